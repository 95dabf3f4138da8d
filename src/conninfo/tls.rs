//! libpq's `sslmode` on rustls. tokio-postgres only knows "don't", "try" and "must" for TLS;
//! what the certificate must prove is ours to decide, so this module builds the rustls client
//! configuration for each mode:
//!
//! - `require` (and `allow`/`prefer` when they end up using TLS): any certificate, but the
//!   handshake signatures are still verified, so the peer holds the key of the certificate it
//!   sent — except that, as in libpq, an existing root certificate file upgrades them to the
//!   `verify-ca` check.
//! - `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
//! - `verify-full`: chain and host name (DNS or IP subjectAltName).
//!
//! A certificate that is itself in the root file is trusted even when webpki would not accept
//! it as a leaf: the usual self-signed server certificate (`openssl req -x509`, which marks it
//! `CA:TRUE`) copied to the client's `root.crt` works with OpenSSL-based libpq, so it must
//! work here. Its validity dates and, for `verify-full`, its name are still checked.
//!
//! The *ring* provider is passed explicitly, never installed process-wide, so nothing depends
//! on which other crate initialised rustls first.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::Socket;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{ConnParams, Host, RootCert, SslMode};

/// What the server's certificate must prove.
#[derive(Debug, Clone)]
pub enum CertCheck {
    /// Nothing beyond possession of its key (handshake signatures).
    Signatures,
    /// A chain to one of these roots.
    Chain(Roots),
    /// A chain to one of these roots, and the host name.
    Full(Roots),
}

/// Trusted roots, and the raw certificates they came from (for pinned self-signed leaves).
#[derive(Debug, Clone)]
pub struct Roots {
    store: Arc<RootCertStore>,
    pinned: Arc<Vec<CertificateDer<'static>>>,
}

/// The root certificate file's bytes, or why there are none. [`resolve`](super::resolve)
/// reads it before any async code runs; libpq decides at connect time whether a missing
/// file matters, and so does [`cert_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootFile {
    /// There is no such file.
    Missing,
    /// The file's bytes.
    Read(Arc<[u8]>),
    /// The file exists but could not be read: the one-line reason, naming it.
    Unreadable(String),
}

/// Reads a root certificate file (blocking I/O: call it before entering the runtime).
pub fn read_root_file(path: &Path) -> RootFile {
    match std::fs::read(path) {
        Ok(bytes) => RootFile::Read(bytes.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => RootFile::Missing,
        Err(e) => RootFile::Unreadable(format!(
            "could not read root certificate file \"{}\": {}",
            path.display(),
            crate::exit::io_reason(&e)
        )),
    }
}

/// The check libpq would apply for `params`, from the root certificate file as resolved
/// (no file I/O here: this runs inside the async connect). `Err` is a one-line message
/// naming the file.
pub fn cert_check(params: &ConnParams) -> Result<CertCheck, String> {
    let verifying = params.sslmode >= SslMode::VerifyCa;
    let roots = match (&params.sslrootcert, &params.root_file) {
        (Some(RootCert::System), _) => Some(system_roots()),
        (Some(RootCert::File(path)), Some(RootFile::Read(bytes))) => {
            Some(parse_roots(path, bytes)?)
        }
        (Some(RootCert::File(_)), Some(RootFile::Unreadable(reason))) => {
            return Err(reason.clone());
        }
        (Some(RootCert::File(path)), _) if verifying => {
            return Err(format!(
                "root certificate file \"{}\" does not exist; provide it, use \
                 sslrootcert=system, or choose an sslmode that does not verify certificates",
                path.display()
            ));
        }
        (Some(RootCert::File(_)), _) => None,
        (None, _) if verifying => {
            return Err(format!(
                "sslmode={} needs root certificates: set sslrootcert (no home directory to \
                 find ~/.postgresql/root.crt in)",
                params.sslmode.as_str()
            ));
        }
        (None, _) => None,
    };
    Ok(match (params.sslmode, roots) {
        (SslMode::VerifyFull, Some(r)) => CertCheck::Full(r),
        (_, Some(r)) => CertCheck::Chain(r),
        (_, None) => CertCheck::Signatures,
    })
}

/// Whether TLS can apply at all: the server never offers it on a Unix socket, and libpq
/// does not ask there.
pub fn tls_possible(params: &ConnParams) -> bool {
    params.sslmode != SslMode::Disable
        && (params.hostaddr.is_some() || matches!(params.host, Host::Tcp(_)))
}

fn system_roots() -> Roots {
    let mut store = RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Roots {
        store: Arc::new(store),
        pinned: Arc::new(Vec::new()),
    }
}

/// Every certificate in a PEM file's bytes, as trust anchors; `path` names it in messages.
fn parse_roots(path: &Path, bytes: &[u8]) -> Result<Roots, String> {
    let name = path.display();
    let mut store = RootCertStore::empty();
    let mut pinned = Vec::new();
    for cert in CertificateDer::pem_slice_iter(bytes) {
        let cert = cert.map_err(|e| {
            format!("could not read root certificate file \"{name}\": bad PEM ({e})")
        })?;
        store.add(cert.clone()).map_err(|e| {
            format!("could not use a certificate in root certificate file \"{name}\": {e}")
        })?;
        pinned.push(cert);
    }
    if store.is_empty() {
        return Err(format!(
            "root certificate file \"{name}\" holds no PEM certificates"
        ));
    }
    Ok(Roots {
        store: Arc::new(store),
        pinned: Arc::new(pinned),
    })
}

/// A rustls client configuration enforcing `check`, on the *ring* provider.
pub fn client_config(check: &CertCheck) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = Arc::new(Verifier {
        check: check.clone(),
        algs,
    });
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// One verifier for every sslmode that uses TLS; only the certificate check differs, the
/// handshake signatures are always verified.
/// - `require` without roots ([`CertCheck::Signatures`]): accept the certificate.
/// - `verify-ca` ([`CertCheck::Chain`]) and `verify-full` ([`CertCheck::Full`]): the chain must
///   reach a trusted root, or the certificate must be one of the root file's own; then, for
///   `verify-full`, the host name must be among its subjectAltNames. No revocation checks, as
///   libpq without a CRL.
#[derive(Debug)]
struct Verifier {
    check: CertCheck,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (roots, check_name) = match &self.check {
            CertCheck::Signatures => return Ok(ServerCertVerified::assertion()),
            CertCheck::Chain(roots) => (roots, false),
            CertCheck::Full(roots) => (roots, true),
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        let chained = verify_server_cert_signed_by_trust_anchor(
            &cert,
            &roots.store,
            intermediates,
            now,
            self.algs.all,
        );
        if let Err(e) = chained {
            let pinned = roots
                .pinned
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref());
            if !pinned {
                return Err(e);
            }
            // Pinning forgives the chain (no issuer, CA:TRUE on a leaf), never the dates:
            // libpq rejects an expired self-signed certificate even in its root file.
            within_validity(end_entity, now)?;
        }
        if check_name {
            verify_server_name(&cert, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Whether `now` lies within the certificate's notBefore..=notAfter.
fn within_validity(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    use x509_cert::der::Decode;
    let invalid = rustls::Error::InvalidCertificate;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    let validity = &parsed.tbs_certificate.validity;
    let now = now.as_secs();
    if now < validity.not_before.to_unix_duration().as_secs() {
        return Err(invalid(CertificateError::NotValidYet));
    }
    if now > validity.not_after.to_unix_duration().as_secs() {
        return Err(invalid(CertificateError::Expired));
    }
    Ok(())
}

/// [`MakeRustlsConnect`] that tolerates an empty host name. tokio-postgres asks for a
/// connector on every connection, Unix sockets included (with `""`, which is not a valid
/// server name); TLS is never started there, so any valid placeholder will do.
#[derive(Clone)]
pub struct MakeTls(MakeRustlsConnect);

impl MakeTls {
    /// Wraps a rustls configuration.
    pub fn new(config: ClientConfig) -> MakeTls {
        MakeTls(MakeRustlsConnect::new(config))
    }
}

impl MakeTlsConnect<Socket> for MakeTls {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Error;

    fn make_tls_connect(&mut self, hostname: &str) -> Result<Self::TlsConnect, Self::Error> {
        let name = if hostname.is_empty() {
            "localhost"
        } else {
            hostname
        };
        <MakeRustlsConnect as MakeTlsConnect<Socket>>::make_tls_connect(&mut self.0, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads and parses a root file, as resolve and connect do between them.
    fn load_roots(path: &Path) -> Result<Roots, String> {
        match read_root_file(path) {
            RootFile::Read(bytes) => parse_roots(path, &bytes),
            RootFile::Missing => Err(format!("{}: missing", path.display())),
            RootFile::Unreadable(reason) => Err(reason),
        }
    }

    struct Issued {
        der: CertificateDer<'static>,
        pem: String,
    }

    fn ca(name: &str) -> (Issued, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let issued = Issued {
            der: cert.der().clone(),
            pem: cert.pem(),
        };
        (issued, rcgen::Issuer::new(params, key))
    }

    /// A leaf for `localhost`, signed by `issuer`, or self-signed (and then marked CA:TRUE,
    /// as `openssl req -x509` does) when there is none.
    fn leaf(issuer: Option<&rcgen::Issuer<'static, rcgen::KeyPair>>) -> Issued {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = match issuer {
            Some(i) => params.signed_by(&key, i).unwrap(),
            None => {
                params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                params.self_signed(&key).unwrap()
            }
        };
        Issued {
            der: cert.der().clone(),
            pem: cert.pem(),
        }
    }

    fn roots_from(pems: &[&str]) -> Roots {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.crt");
        std::fs::write(&path, pems.concat()).unwrap();
        load_roots(&path).unwrap()
    }

    fn check(roots: &Roots, check_name: bool, cert: &Issued, name: &str) -> Result<(), String> {
        let verifier = Verifier {
            check: if check_name {
                CertCheck::Full(roots.clone())
            } else {
                CertCheck::Chain(roots.clone())
            },
            algs: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        };
        verifier
            .verify_server_cert(
                &cert.der,
                &[],
                &ServerName::try_from(name.to_string()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn chain_and_name_checks() {
        let (ca_cert, issuer) = ca("test CA");
        let (other_ca, _) = ca("other CA");
        let server = leaf(Some(&issuer));
        let right = roots_from(&[&ca_cert.pem]);
        let wrong = roots_from(&[&other_ca.pem]);

        assert_eq!(check(&right, true, &server, "localhost"), Ok(()));
        assert!(check(&right, true, &server, "127.0.0.1").is_err());
        assert_eq!(check(&right, false, &server, "127.0.0.1"), Ok(()));
        assert!(check(&wrong, false, &server, "localhost").is_err());
        // Several roots in one file: any will do.
        let both = roots_from(&[&other_ca.pem, &ca_cert.pem]);
        assert_eq!(check(&both, true, &server, "localhost"), Ok(()));
    }

    #[test]
    fn a_self_signed_server_certificate_in_the_root_file_is_trusted() {
        let server = leaf(None);
        let pinned = roots_from(&[&server.pem]);
        assert_eq!(check(&pinned, false, &server, "127.0.0.1"), Ok(()));
        assert_eq!(check(&pinned, true, &server, "localhost"), Ok(()));
        assert!(check(&pinned, true, &server, "db.example").is_err());
        // Another self-signed certificate is not.
        let (ca_cert, _) = ca("unrelated");
        let unrelated = roots_from(&[&ca_cert.pem]);
        assert!(check(&unrelated, false, &server, "localhost").is_err());
    }

    /// A self-signed `localhost` certificate valid only from `from` to `until` (Unix secs).
    fn dated_self_signed(from: i64, until: i64) -> Issued {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before =
            rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(from.unsigned_abs());
        params.not_after =
            rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(until.unsigned_abs());
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Issued {
            der: cert.der().clone(),
            pem: cert.pem(),
        }
    }

    #[test]
    fn a_pinned_certificate_outside_its_dates_is_refused() {
        let now = i64::try_from(UnixTime::now().as_secs()).unwrap();
        let day = 86_400;
        let expired = dated_self_signed(now - 30 * day, now - day);
        let pinned = roots_from(&[&expired.pem]);
        for check_name in [false, true] {
            let err = check(&pinned, check_name, &expired, "localhost").unwrap_err();
            assert!(err.to_lowercase().contains("expired"), "{err}");
        }
        let future = dated_self_signed(now + day, now + 30 * day);
        let pinned = roots_from(&[&future.pem]);
        let err = check(&pinned, false, &future, "localhost").unwrap_err();
        assert!(err.contains("NotValidYet"), "{err}");
        // The control: the same shape of certificate within its dates is trusted.
        let current = dated_self_signed(now - day, now + day);
        let pinned = roots_from(&[&current.pem]);
        assert_eq!(check(&pinned, true, &current, "localhost"), Ok(()));
    }

    #[test]
    fn bad_root_files_are_one_line_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = load_roots(&empty).unwrap_err();
        assert!(
            err.contains("empty.crt") && err.contains("no PEM certificates"),
            "{err}"
        );
        let err = load_roots(&dir.path().join("missing.crt")).unwrap_err();
        assert!(err.contains("missing.crt") && !err.contains('\n'), "{err}");
    }
}
