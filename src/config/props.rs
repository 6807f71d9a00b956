//! Property tests of the INI reader: any file is a configuration or a clear error, and a repeated section means
//! what oslo.config makes of it.

use proptest::prelude::*;

use super::load::from_text;

/// Options whose values can be generated freely.
const OPTIONS: &[(&str, &str, &str)] = &[
    ("DEFAULT", "debug", "(true|false)"),
    ("DEFAULT", "log_format", "(text|json)"),
    ("token", "expiration", "[1-9][0-9]{0,5}"),
    ("server", "idle_timeout", "[1-9][0-9]{0,3}"),
    ("server", "max_connections", "[1-9][0-9]{0,4}"),
    ("oauth2", "client_failure_threshold", "[0-9]{1,3}"),
    ("database", "max_pool_size", "[1-9][0-9]?"),
];

fn settings() -> impl Strategy<Value = Vec<(usize, String)>> {
    proptest::collection::vec(
        (0..OPTIONS.len()).prop_flat_map(|i| {
            proptest::string::string_regex(OPTIONS[i].2)
                .unwrap()
                .prop_map(move |v| (i, v))
        }),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any text: a configuration or an error naming the file, never a panic.
    #[test]
    fn any_text_loads_or_is_refused(text in "(\\PC|\n|\\[|\\]|=|#|;){0,400}") {
        if let Err(e) = from_text(&text, "fuzz.conf") {
            prop_assert!(e.to_string().contains("fuzz.conf"), "{e}");
        }
    }

    /// Settings spread over repeated section headers load exactly as the same settings under one header each
    /// (the later of two values for one option wins, as in oslo.config).
    #[test]
    fn repeated_sections_merge(settings in settings()) {
        let line = |(i, v): &(usize, String)| format!("[{}]\n{} = {}\n", OPTIONS[*i].0, OPTIONS[*i].1, v);
        let repeated: String = settings.iter().map(line).collect();
        let mut merged = std::collections::BTreeMap::<&str, Vec<String>>::new();
        let mut last = std::collections::BTreeMap::new();
        for (i, v) in &settings {
            last.insert(*i, v.clone());
        }
        for (i, v) in &last {
            merged.entry(OPTIONS[*i].0).or_default().push(format!("{} = {}", OPTIONS[*i].1, v));
        }
        let single: String = merged
            .iter()
            .map(|(section, lines)| format!("[{section}]\n{}\n", lines.join("\n")))
            .collect();
        let a = from_text(&repeated, "a.conf").map(|c| format!("{:?}", (c.default, c.token.expiration, c.server.idle_timeout, c.server.max_connections, c.oauth2.throttle, c.database.max_pool_size)));
        let b = from_text(&single, "a.conf").map(|c| format!("{:?}", (c.default, c.token.expiration, c.server.idle_timeout, c.server.max_connections, c.oauth2.throttle, c.database.max_pool_size)));
        prop_assert_eq!(a.map_err(|e| e.to_string()), b.map_err(|e| e.to_string()));
    }
}
