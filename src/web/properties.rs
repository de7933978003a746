//! Properties of the front's parsers on arbitrary input: no panic, and no
//! secret value survives redaction.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = super::credentials::parse(&bytes);
        let mut p = super::params::Params::default();
        let _ = p.add_urlencoded(&bytes);
        let _ = p.add_json(&bytes);
        let _ = p.api_version();
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = super::route::classify(text);
            let _ = super::route::original_uri_function(text);
            let _ = super::access_log::redact_query(text);
        }
    }

    #[test]
    fn a_token_parameter_never_reaches_the_log(
        before in "[a-z_=&]{0,20}",
        key in prop_oneof!["token", "TOKEN", "token-1", "password", "new_pass", "client_secret"],
        value in "[A-Z0-9]{8,32}",
        after in "[a-z_=&]{0,20}",
    ) {
        let query = format!("{before}&{key}={value}&{after}");
        let shown = super::access_log::redact_query(&query);
        prop_assert!(!shown.contains(&format!("={value}")), "{shown}");
    }

    #[test]
    fn whm_credentials_round_trip(
        user in "[a-z][a-z0-9]{0,15}",
        token in "[A-Z0-9]{32}",
        scheme in prop_oneof!["whm", "WHM", "Whm", "wHM"],
        gap in "[ \t]{1,3}",
    ) {
        let header = format!("{scheme}{gap}{user}:{token}");
        match super::credentials::parse(header.as_bytes()) {
            super::credentials::Presented::Whm(c) => {
                prop_assert_eq!(c.user, user);
                prop_assert_eq!(c.token.as_str(), token.as_str());
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }
}
