//! `etc/lintel.conf.sample` is generated from the option definitions; this fails when they drift.

#[test]
fn sample_config_matches_the_option_definitions() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/lintel.conf.sample");
    let on_disk = std::fs::read_to_string(path).expect("etc/lintel.conf.sample exists");
    assert!(
        on_disk == lintel::config::sample(),
        "etc/lintel.conf.sample is stale: regenerate it with `cargo run -- sample-config > etc/lintel.conf.sample`"
    );
}

#[test]
fn the_sample_itself_loads_cleanly() {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/etc/lintel.conf.sample"
    ));
    let config = lintel::config::Config::from_file(path).expect("sample loads");
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}
