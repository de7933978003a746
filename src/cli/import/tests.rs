use super::*;
use serde_json::json;

fn entry(digest: char, name: &str) -> Entry {
    (
        digest.to_string().repeat(128),
        json!({"name": name, "create_time": 1}),
    )
}

#[test]
fn batches_fit_the_budget_and_keep_a_name_together() {
    let entries: Vec<Entry> = (0..40)
        .map(|i| entry(char::from(b'a' + (i % 6)), &format!("t{}", i % 20)))
        .collect();
    let one = size_of(&entries[0]);
    let out = batches(entries, one * 5);
    assert_eq!(out.iter().map(Vec::len).sum::<usize>(), 40);
    for b in &out {
        assert!(b.len() <= 6, "{}", b.len());
    }
    for name in (0..20).map(|i| format!("t{i}")) {
        let holding = out
            .iter()
            .filter(|b| b.iter().any(|(_, v)| v["name"] == name.as_str()))
            .count();
        assert_eq!(holding, 1, "{name} is split");
    }
    // A group larger than the budget goes alone, not dropped.
    let big: Vec<Entry> = (0..5).map(|_| entry('f', "same")).collect();
    let out = batches(big, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), 5);
}

fn size_of((k, v): &Entry) -> usize {
    k.len() + v.to_string().len() + 8
}

#[test]
fn accesshash_whitespace_goes_and_odd_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(".accesshash");
    std::fs::write(&p, "abc123\n def456\r\n\t789\n").unwrap();
    assert_eq!(&*read_accesshash(&p, None).unwrap(), "abc123def456789");
    assert_eq!(&*read_accesshash(&p, Some(0)).unwrap(), "abc123def456789");
    std::fs::write(&p, " \n\n").unwrap();
    assert!(
        read_accesshash(&p, None)
            .unwrap_err()
            .contains("no access hash")
    );
    std::fs::write(&p, "abc\u{e9}").unwrap();
    assert!(read_accesshash(&p, None).unwrap_err().contains("printable"));
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&p, &link).unwrap();
    assert!(read_accesshash(&link, Some(0)).is_err(), "symlink followed");
    assert!(
        read_accesshash(dir.path(), None)
            .unwrap_err()
            .contains("regular")
    );
    std::fs::write(&p, "abc").unwrap();
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(&p, Some(12345), None).unwrap();
        assert_eq!(&*read_accesshash(&p, Some(12345)).unwrap(), "abc");
    }
    let e = read_accesshash(&p, Some(54321)).unwrap_err();
    assert!(e.contains("neither the user nor root"), "{e}");
}
