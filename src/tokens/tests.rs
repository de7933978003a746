use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::config::Argon2Config;

#[test]
fn tokens_use_the_alphabet_and_differ() {
    let a = Token::generate().unwrap();
    let b = Token::generate().unwrap();
    assert_eq!(a.expose().len(), TOKEN_LEN);
    assert!(a.expose().bytes().all(|c| ALPHABET.contains(&c)));
    // The PAM module refuses anything else without asking the daemon.
    assert!(apitokend_proto::is_token_shaped(a.expose()));
    assert_ne!(a.expose(), b.expose());
    assert_eq!(format!("{a:?}"), "Token(<redacted>)");
}

#[test]
fn character_distribution_is_roughly_flat() {
    let mut counts = [0u32; 36];
    for _ in 0..2000 {
        for c in Token::generate().unwrap().expose().bytes() {
            let i = ALPHABET.iter().position(|&a| a == c).unwrap();
            counts[i] += 1;
        }
    }
    // 64000 draws, 1777.8 expected per symbol; a biased "b % 36" over
    // 0..256 would give the first four symbols ~14% more.
    for n in counts {
        assert!((1550..=2010).contains(&n), "{counts:?}");
    }
}

#[test]
fn digest_is_cpanel_sha512() {
    let t = Token::from_secret(Zeroizing::new("UWU28DCA23NKY76CN17MDPKM3O7EFQY8".into()));
    let hex: String = t
        .digest()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let expect: String = sha2::Sha512::digest(b"UWU28DCA23NKY76CN17MDPKM3O7EFQY8")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, expect);
}

#[test]
fn index_depends_on_pepper_and_argon2_round_trips() {
    let t = Token::generate().unwrap();
    let p1 = Pepper::from_bytes([1; 32]);
    let p2 = Pepper::from_bytes([2; 32]);
    assert!(p1.index(&t.digest()) != p2.index(&t.digest()));
    assert!(p1.index(&t.digest()) == p1.index(&t.digest()));
    let h = Hasher::new(&Argon2Config {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    })
    .unwrap();
    let phc = h.hash(&t.digest()).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
    assert!(h.verify(&t.digest(), &phc));
    assert!(!h.verify(&Token::generate().unwrap().digest(), &phc));
    assert!(!h.verify(&t.digest(), "not a phc string"));
    // The crate's own verifier agrees (standard PHC output).
    use argon2::password_hash::PasswordVerifier;
    assert!(
        argon2::Argon2::default()
            .verify_password(t.digest().as_bytes(), phc.as_str())
            .is_ok()
    );
    // A verifier made by the crate with other parameters verifies here.
    use argon2::password_hash::PasswordHasher;
    let other = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(128, 2, 1, None).unwrap(),
    )
    .hash_password(t.digest().as_bytes())
    .unwrap()
    .to_string();
    assert!(h.verify(&t.digest(), &other));
    assert!(!h.verify(&Token::generate().unwrap().digest(), &other));
}

#[test]
fn digest_hex_round_trips_and_rejects_bad_text() {
    let t = Token::generate().unwrap();
    let hex = t.digest().to_hex();
    assert_eq!(hex.len(), 128);
    let back = Digest::from_hex(&hex).unwrap();
    assert_eq!(back.as_bytes(), t.digest().as_bytes());
    let upper = Digest::from_hex(&hex.to_uppercase()).unwrap();
    assert_eq!(upper.as_bytes(), t.digest().as_bytes());
    for bad in [
        &hex[..126],
        &format!("{}zz", &hex[..126]),
        "",
        &format!("{}0", &*hex),
    ] {
        assert!(Digest::from_hex(bad).is_none(), "{bad:?}");
    }
    assert!(Digest::from_hex(&format!("é{}", &hex[2..])).is_none());
}

#[test]
fn interim_verifier_is_keyed_and_checked() {
    let t = Token::generate().unwrap();
    let p1 = Pepper::from_bytes([1; 32]);
    let p2 = Pepper::from_bytes([2; 32]);
    let v = p1.interim_verifier(&t.digest());
    assert_eq!(scheme(&v), Scheme::Interim);
    assert!(p1.check_interim(&t.digest(), &v));
    assert!(!p2.check_interim(&t.digest(), &v));
    assert!(!p1.check_interim(&Token::generate().unwrap().digest(), &v));
    assert!(!p1.check_interim(&t.digest(), &v[..v.len() - 1]));
    // Neither the index nor the digest appears in it.
    let index_hex: String = p1
        .index(&t.digest())
        .0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!v.contains(&index_hex));
    assert!(!v.contains(&t.digest().to_hex()[..64]));
    // An interim verifier never passes the Argon2 check, nor the reverse.
    let h = Hasher::new(&Argon2Config {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    })
    .unwrap();
    assert!(!h.verify(&t.digest(), &v));
    let phc = h.hash(&t.digest()).unwrap();
    assert_eq!(scheme(&phc), Scheme::Argon2);
    assert!(!p1.check_interim(&t.digest(), &phc));
}

#[test]
fn pepper_file_created_0600_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pepper");
    assert!(Pepper::load_or_create(&p, false).is_err());
    let a = Pepper::load_or_create(&p, true).unwrap();
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let b = Pepper::load_or_create(&p, false).unwrap();
    assert_eq!(a.fingerprint(), b.fingerprint());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        Pepper::load_or_create(&p, false)
            .unwrap_err()
            .contains("0600")
    );
}
