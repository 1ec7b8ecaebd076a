//! The token store as the CLI and the server use it.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use suho_server::{Role, ServerError, TokenStore};

fn store() -> (tempfile::TempDir, TokenStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn token_file_is_0600_and_holds_hashes_never_tokens() {
    let (dir, store) = store();
    let (info, token) = store.create(Role::Ingest, "gateway").unwrap();
    let path = dir.path().join("tokens.ndjson");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = fs::read_to_string(&path).unwrap();
    let secret = token.rsplit('_').next().unwrap();
    assert_eq!(secret.len(), 64);
    assert!(!text.contains(&token), "the token text is in the file");
    assert!(!text.contains(secret), "the token secret is in the file");
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["id"], info.id.as_str());
    assert_eq!(line["role"], "ingest");
    assert_eq!(line["name"], "gateway");
    assert_eq!(line["revoked_at"], serde_json::Value::Null);
    let digest = sha2_hex(&token);
    assert_eq!(line["sha256"], digest.as_str());
}

fn sha2_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn created_token_has_the_documented_shape_and_authenticates() {
    let (_dir, store) = store();
    let (info, token) = store.create(Role::Read, "auditor").unwrap();
    let parts: Vec<&str> = token.splitn(3, '_').collect();
    assert_eq!(parts[0], "suho");
    assert_eq!(parts[1], info.id);
    assert_eq!(parts[1].len(), 16);
    assert!(info.created_at.ends_with('Z') && info.created_at.len() == 20);
    assert_eq!(store.authenticate(&token), Some(info));
}

#[test]
fn tokens_are_unique() {
    let (_dir, store) = store();
    let (a, ta) = store.create(Role::Admin, "a").unwrap();
    let (b, tb) = store.create(Role::Admin, "b").unwrap();
    assert_ne!(a.id, b.id);
    assert_ne!(ta, tb);
}

#[test]
fn wrong_secret_with_a_real_id_does_not_authenticate() {
    let (_dir, store) = store();
    let (_, token) = store.create(Role::Admin, "ops").unwrap();
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(store.authenticate(&forged), None);
    assert_eq!(store.authenticate(""), None);
    assert_eq!(store.authenticate(&format!("{token} ")), None);
    assert_eq!(store.authenticate(&token.to_uppercase()), None);
}

#[test]
fn revoked_token_stops_authenticating_and_revocation_is_recorded_once() {
    let (_dir, store) = store();
    let (info, token) = store.create(Role::Ingest, "gateway").unwrap();
    let revoked = store.revoke(&info.id).unwrap();
    let at = revoked.revoked_at.clone().expect("revocation time");
    assert_eq!(store.authenticate(&token), None);
    let again = store.revoke(&info.id).unwrap();
    assert_eq!(again.revoked_at.as_deref(), Some(at.as_str()));
    let listed = store.list();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_revoked());
}

#[test]
fn revoking_an_unknown_id_is_an_error_naming_it() {
    let (_dir, store) = store();
    let err = store.revoke("0123456789abcdef").unwrap_err();
    assert!(matches!(err, ServerError::UnknownToken { ref id } if id == "0123456789abcdef"));
    assert!(err.to_string().contains("0123456789abcdef"));
}

#[test]
fn list_is_in_creation_order_with_every_role() {
    let (_dir, store) = store();
    store.create(Role::Ingest, "one").unwrap();
    store.create(Role::Read, "two").unwrap();
    store.create(Role::Admin, "three").unwrap();
    let names: Vec<(String, Role)> = store.list().into_iter().map(|t| (t.name, t.role)).collect();
    assert_eq!(
        names,
        vec![
            ("one".to_owned(), Role::Ingest),
            ("two".to_owned(), Role::Read),
            ("three".to_owned(), Role::Admin)
        ]
    );
}

#[test]
fn a_token_created_by_another_process_works_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TokenStore::open(dir.path()).unwrap();
    assert!(server.list().is_empty());
    // The CLI opens its own store on the same directory.
    let cli = TokenStore::open(dir.path()).unwrap();
    let (info, token) = cli.create(Role::Read, "new auditor").unwrap();
    assert_eq!(server.authenticate(&token), Some(info.clone()));
    cli.revoke(&info.id).unwrap();
    assert_eq!(server.authenticate(&token), None);
}

#[test]
fn writers_in_two_stores_do_not_lose_each_others_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let store = TokenStore::open(&path).unwrap();
                (0..10)
                    .map(|i| store.create(Role::Ingest, &format!("t{t}-{i}")).unwrap().1)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let tokens: Vec<String> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let store = TokenStore::open(dir.path()).unwrap();
    assert_eq!(store.list().len(), 40);
    for t in &tokens {
        assert!(store.authenticate(t).is_some());
    }
}

#[test]
fn corrupt_token_file_is_refused_at_open_with_its_line() {
    let (dir, store) = store();
    store.create(Role::Admin, "ops").unwrap();
    let path = dir.path().join("tokens.ndjson");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("{\"id\":\"zz\"}\n");
    fs::write(&path, text).unwrap();
    let err = TokenStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, ServerError::TokenFileCorrupt { line: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("tokens.ndjson"), "{err}");
}

#[test]
fn a_running_store_fails_closed_when_the_file_goes_bad() {
    let (dir, store) = store();
    let (_, token) = store.create(Role::Admin, "ops").unwrap();
    assert!(store.authenticate(&token).is_some());
    let path = dir.path().join("tokens.ndjson");
    let good = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{good}not json\n")).unwrap();
    assert_eq!(store.authenticate(&token), None);
    fs::write(&path, good).unwrap();
    assert!(store.authenticate(&token).is_some());
}

#[test]
fn a_deleted_token_file_means_no_tokens() {
    let (dir, store) = store();
    let (_, token) = store.create(Role::Admin, "ops").unwrap();
    fs::remove_file(dir.path().join("tokens.ndjson")).unwrap();
    assert_eq!(store.authenticate(&token), None);
    assert!(store.list().is_empty());
}

#[test]
fn a_token_file_readable_by_others_is_narrowed_at_open() {
    let (dir, store) = store();
    store.create(Role::Admin, "ops").unwrap();
    let path = dir.path().join("tokens.ndjson");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    TokenStore::open(dir.path()).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn open_creates_a_missing_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b/suho-data");
    let store = TokenStore::open(&data).unwrap();
    assert!(data.is_dir());
    assert!(store.list().is_empty());
}

#[test]
fn token_names_are_checked() {
    let (_dir, store) = store();
    for bad in ["", "line\nbreak", &"x".repeat(129)] {
        assert!(
            matches!(
                store.create(Role::Read, bad),
                Err(ServerError::InvalidTokenName { .. })
            ),
            "{bad:?} accepted"
        );
    }
    assert!(store.list().is_empty());
}

#[test]
fn roles_parse_from_their_names() {
    assert_eq!("ingest".parse::<Role>().unwrap(), Role::Ingest);
    assert_eq!("read".parse::<Role>().unwrap(), Role::Read);
    assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
    let err = "root".parse::<Role>().unwrap_err();
    assert!(err.to_string().contains("root"));
}
