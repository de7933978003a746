//! TLS for the HTTPS listeners: rustls with the ring provider, the
//! certificate from `[web] tls_cert`/`tls_key` or a self-signed one made
//! at first start, swapped in place on SIGHUP.
//!
//! The self-signed pair is what cPanel gives a fresh server: names for the
//! host name, `localhost`, 127.0.0.1 and ::1, kept in the front's own state
//! directory (0700; key 0600) and reused on later starts.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::config::WebConfig;

const SELF_CERT: &str = "self-signed.crt";
const SELF_KEY: &str = "self-signed.key";

/// Where the certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Generated into (and later read from) this directory.
    SelfSigned {
        dir: PathBuf,
    },
}

impl Source {
    pub fn from_config(web: &WebConfig) -> Source {
        match (&web.tls_cert, &web.tls_key) {
            (Some(cert), Some(key)) => Source::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => Source::SelfSigned {
                dir: web.state_dir.clone(),
            },
        }
    }

    /// The certificate and key files this source reads.
    pub fn paths(&self) -> (PathBuf, PathBuf) {
        match self {
            Source::Files { cert, key } => (cert.clone(), key.clone()),
            Source::SelfSigned { dir } => (dir.join(SELF_CERT), dir.join(SELF_KEY)),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The current certificate, handed to every handshake; `reload` swaps it.
#[derive(Debug)]
pub struct Certificates {
    source: Source,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Loads the certificate, generating the self-signed pair if needed.
    pub fn open(source: Source) -> Result<Certificates, String> {
        if let Source::SelfSigned { dir } = &source {
            ensure_self_signed(dir)?;
        }
        let key = load(&source)?;
        Ok(Certificates {
            source,
            current: RwLock::new(Arc::new(key)),
        })
    }

    /// Re-reads the files; on failure the previous certificate stays.
    pub fn reload(&self) -> Result<(), String> {
        let key = load(&self.source)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(())
    }

    /// The end-entity certificate in DER.
    #[cfg(test)]
    pub fn leaf_der(&self) -> Vec<u8> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.cert.first().map(|c| c.to_vec()).unwrap_or_default()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// A rustls server configuration over `certs`: TLS 1.2 and 1.3, HTTP/1.1.
pub fn server_config(certs: Arc<Certificates>) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load(source: &Source) -> Result<CertifiedKey, String> {
    let (cert_path, key_path) = source.paths();
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert_path.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert_path.display()));
    }
    // The key parser's errors may quote a line of the file: say only which file.
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|_| {
        format!(
            "cannot read a PEM private key from {} (missing, unreadable or not PEM)",
            key_path.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        format!(
            "{} and {} do not make a usable certificate and key: {e}",
            cert_path.display(),
            key_path.display()
        )
    })
}

/// The names the self-signed certificate covers.
fn self_signed_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_owned());
        }
    }
    names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    names
}

/// Creates the directory (0700) and the self-signed pair if absent.
fn ensure_self_signed(dir: &Path) -> Result<(), String> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))?;
    let (cert_path, key_path) = Source::SelfSigned {
        dir: dir.to_owned(),
    }
    .paths();
    if cert_path.exists() && key_path.exists() {
        return Ok(());
    }
    let (cert_pem, key_pem) = generate(&self_signed_names())?;
    // Key first, under a temporary name, so a crash never leaves a
    // certificate without its key.
    write_new(&key_path, key_pem.as_bytes(), 0o600)?;
    write_new(&cert_path, cert_pem.as_bytes(), 0o644)?;
    crate::logging::info(&format!(
        "generated a self-signed certificate in {} for {}",
        dir.display(),
        self_signed_names().join(", ")
    ));
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// A self-signed ECDSA P-256 certificate for `names`, valid ten years.
fn generate(names: &[String]) -> Result<(String, String), String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .map_err(|e| format!("cannot make a certificate for {names:?}: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].clone());
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "apitokend self-signed");
    let today = chrono::Utc::now().date_naive();
    let ymd = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    params.not_before = ymd(today - chrono::Days::new(1));
    params.not_after = ymd(today + chrono::Days::new(3650));
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("web");
        let certs = Certificates::open(Source::SelfSigned { dir: dir.clone() }).unwrap();
        let first = certs.leaf_der();
        assert!(!first.is_empty());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(SELF_KEY)), 0o600);
        // Reused, not regenerated.
        let again = Certificates::open(Source::SelfSigned { dir: dir.clone() }).unwrap();
        assert_eq!(again.leaf_der(), first);
        assert!(server_config(Arc::new(again)).is_ok());
    }

    #[test]
    fn reload_swaps_and_a_broken_file_keeps_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (c1, k1) = generate(&["one.example".to_owned()]).unwrap();
        let cert = tmp.path().join("c.pem");
        let key = tmp.path().join("k.pem");
        std::fs::write(&cert, &c1).unwrap();
        std::fs::write(&key, &k1).unwrap();
        let certs = Certificates::open(Source::Files {
            cert: cert.clone(),
            key: key.clone(),
        })
        .unwrap();
        let first = certs.leaf_der();
        let (c2, k2) = generate(&["two.example".to_owned()]).unwrap();
        std::fs::write(&cert, &c2).unwrap();
        std::fs::write(&key, &k2).unwrap();
        certs.reload().unwrap();
        assert_ne!(certs.leaf_der(), first);
        let second = certs.leaf_der();
        // A key that does not match the certificate is refused.
        std::fs::write(&key, &k1).unwrap();
        assert!(certs.reload().is_err());
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nSECRETLINE\n").unwrap();
        let e = certs.reload().unwrap_err();
        assert!(!e.contains("SECRETLINE"), "{e}");
        assert_eq!(certs.leaf_der(), second);
    }
}
