//! Property tests of access-rule matching: Keystone's meaning, in bounded time whatever the template.

use proptest::prelude::*;

use super::path_matches;

/// The obvious, exponential definition: `*` is one segment, `**` any number of them (none included).
fn reference(t: &[&str], p: &[&str]) -> bool {
    match t.split_first() {
        None => p.is_empty(),
        Some((&"**", rest)) => (0..=p.len()).any(|k| reference(rest, &p[k..])),
        Some((seg, rest)) => {
            !p.is_empty() && (*seg == "*" || *seg == p[0]) && reference(rest, &p[1..])
        }
    }
}

fn join(segments: &[&str]) -> String {
    segments.iter().map(|s| format!("/{s}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// On small inputs, the linear matcher agrees with the definition.
    #[test]
    fn matching_agrees_with_the_definition(
        t in proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("*"), Just("**")], 0..8),
        p in proptest::collection::vec(prop_oneof![Just("a"), Just("b")], 0..8),
    ) {
        prop_assert_eq!(path_matches(&join(&t), &join(&p)), reference(&t, &p));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The largest template creation allows (225 characters, so at most 112 segments) against a long request
    /// path stays far below a millisecond's worth of steps; the old matcher took seconds to forever on these.
    #[test]
    fn matching_time_is_bounded(
        t in proptest::collection::vec(prop_oneof![Just("**"), Just("*"), Just("a")], 1..75),
        p in proptest::collection::vec(prop_oneof![Just("a"), Just("b")], 0..4000),
    ) {
        let template = join(&t);
        prop_assume!(template.len() <= 225);
        #[allow(clippy::disallowed_methods)] // a bound on work, measured in time
        let started = std::time::Instant::now();
        let _ = path_matches(&template, &join(&p));
        prop_assert!(started.elapsed() < std::time::Duration::from_millis(250));
    }
}
