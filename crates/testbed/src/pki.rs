//! Throw-away TLS material for tests: a CA, an etcd server certificate and a client certificate,
//! plus a second, unrelated CA for "wrong CA" cases.

use anyhow::Result;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// PEM text of every piece of TLS material a test needs.
#[derive(Clone, Debug)]
pub struct Pki {
    pub ca_cert: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
    /// A CA that signed nothing here: trusting it must make the TLS handshake fail.
    pub other_ca_cert: String,
}

impl Pki {
    pub fn generate() -> Result<Pki> {
        let ca = certificate_authority("calico-migrate test CA")?;
        let other_ca = certificate_authority("unrelated test CA")?;

        let mut server = CertificateParams::new(vec!["localhost".to_string()])?;
        server
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse()?));
        server.distinguished_name.push(DnType::CommonName, "etcd");
        server.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let server_key = KeyPair::generate()?;
        let server_cert = server.signed_by(&server_key, &ca)?;

        let mut client = CertificateParams::new(Vec::<String>::new())?;
        client.distinguished_name.push(DnType::CommonName, "calico");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate()?;
        let client_cert = client.signed_by(&client_key, &ca)?;

        Ok(Pki {
            ca_cert: ca.pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            client_cert: client_cert.pem(),
            client_key: client_key.serialize_pem(),
            other_ca_cert: other_ca.pem(),
        })
    }
}

fn certificate_authority(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}
