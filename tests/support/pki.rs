//! Throwaway certificates for the TLS tests (PostgreSQL and Redis): a test CA and a
//! `localhost` server certificate signed by it, made with rcgen at test time so no key is
//! ever committed.

/// A CA, and a server certificate for `localhost` only, signed by it.
pub struct Pki {
    /// The CA that signed the server certificate.
    pub ca_pem: String,
    /// A CA that signed nothing here (for verification failures).
    pub other_ca_pem: String,
    /// The `localhost` server certificate.
    pub server_cert_pem: String,
    /// Its private key.
    pub server_key_pem: String,
}

fn make_ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert, rcgen::Issuer::new(params, key))
}

pub fn make_pki() -> Pki {
    let (ca, issuer) = make_ca("pgcache-tune test CA");
    let (other_ca, _) = make_ca("some other CA");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        other_ca_pem: other_ca.pem(),
        server_cert_pem: cert.pem(),
        server_key_pem: key.serialize_pem(),
    }
}
