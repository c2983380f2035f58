//! TLS for https targets: rustls with the webpki-roots store, certificates verified unless
//! `--insecure` is asked for, optional CA file, client certificate and server-name override.
//! Only compiled with the `tls` feature.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::net::Conn;
use super::options::TlsOptions;
use super::{Deadline, Failure, Phase, Progress};

/// A client configuration built once per run.
pub struct Setup {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl Setup {
    /// Builds the configuration, reading the CA file and client certificate. Errors are
    /// usage errors (bad file, bad PEM), phrased for the user.
    pub fn new(opts: &TlsOptions) -> Result<Setup, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS set-up failed: {e}"))?;
        let builder = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            match &opts.ca_file {
                Some(path) => {
                    let what = format!("--ca-file {}", path.display());
                    let pem = read_pem_file(path).map_err(|e| format!("{what}: {e}"))?;
                    for cert in CertificateDer::pem_slice_iter(&pem) {
                        let cert = cert.map_err(|e| format!("{what}: {}", pem_error(e)))?;
                        roots
                            .add(cert)
                            .map_err(|e| format!("{what}: unusable certificate: {e}"))?;
                    }
                    if roots.is_empty() {
                        return Err(format!("{what}: no certificates found"));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots)
        };
        let config = match (&opts.client_cert, &opts.client_key) {
            (Some(cert), Some(key)) => {
                let what = format!("--client-cert {}", cert.display());
                let pem = read_pem_file(cert).map_err(|e| format!("{what}: {e}"))?;
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{what}: {}", pem_error(e)))?;
                if chain.is_empty() {
                    return Err(format!("{what}: no certificates found"));
                }
                let what = format!("--client-key {}", key.display());
                let pem = read_pem_file(key).map_err(|e| format!("{what}: {e}"))?;
                let key = PrivateKeyDer::from_pem_slice(&pem)
                    .map_err(|e| format!("{what}: {}", pem_error(e)))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("--client-cert/--client-key: {e}"))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Setup {
            config: Arc::new(config),
            server_name: opts.server_name.clone(),
        })
    }

    /// Wraps `conn` in TLS for `host` (or --tls-server-name, when `override_name` allows it:
    /// not on a redirect to another host) and completes the handshake within the deadline.
    pub fn handshake(
        &self,
        conn: &mut Conn,
        host: &str,
        override_name: bool,
        deadline: &Deadline,
        progress: &Progress,
    ) -> Result<(), Failure> {
        progress.set(Phase::Tls);
        let name_text = match &self.server_name {
            Some(n) if override_name => n.as_str(),
            _ => host,
        };
        let name = ServerName::try_from(name_text.to_string())
            .map_err(|_| Failure::new(format!("TLS: invalid server name {name_text:?}")))?;
        let client = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| Failure::new(format!("TLS: {}", describe(&e, name_text))))?;
        conn.tls = Some(client);
        loop {
            let handshaking = conn.tls.as_ref().is_some_and(|c| c.is_handshaking());
            if !handshaking {
                return Ok(());
            }
            let result = match conn.tls_parts() {
                (mut io, Some(c)) => match c.complete_io(&mut io) {
                    // The server may have closed right after sending an alert (a missing client
                    // certificate): read what it sent before reporting the broken pipe.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        match c.read_tls(&mut io).map(|_| c.process_new_packets()) {
                            Ok(Err(tls)) => Err(io::Error::new(io::ErrorKind::InvalidData, tls)),
                            _ => Err(e),
                        }
                    }
                    other => other,
                },
                (_, None) => return Ok(()),
            };
            match result {
                Ok((0, 0)) => {
                    return Err(Failure::new("TLS: connection closed during the handshake"));
                }
                Ok(_) => {}
                Err(e) => return Err(io_failure(&e, name_text, deadline)),
            }
        }
    }
}

/// Reads a PEM file of at most 1 MiB. Only regular files: a FIFO or a device given by mistake
/// must not block the check or fill the memory.
fn read_pem_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    const LIMIT: u64 = 1 << 20;
    let meta = std::fs::metadata(path).map_err(|e| crate::error::describe_io(&e))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| crate::error::describe_io(&e))?;
    let mut data = Vec::new();
    file.take(LIMIT + 1)
        .read_to_end(&mut data)
        .map_err(|e| crate::error::describe_io(&e))?;
    if data.len() as u64 > LIMIT {
        return Err("larger than 1 MiB".into());
    }
    Ok(data)
}

/// A failure from an I/O error on a TLS connection (during or after the handshake).
pub fn io_failure(e: &io::Error, name: &str, deadline: &Deadline) -> Failure {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        return deadline.timed_out(Phase::Tls);
    }
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return Failure::new(format!("TLS: {}", describe(tls, name)));
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => {
            Failure::new("TLS: the server closed the connection during the handshake")
        }
        _ => Failure::new(format!(
            "TLS: {}",
            crate::error::describe_io(e).to_ascii_lowercase()
        )),
    }
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => crate::error::describe_io(&io),
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM item of the expected kind found".into()
        }
        other => format!("invalid PEM ({other:?})"),
    }
}

/// What went wrong, in the words a user needs.
fn describe(e: &rustls::Error, name: &str) -> String {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("certificate not valid for name {name} (see --tls-server-name)")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not valid yet".into()
            }
            CertificateError::UnknownIssuer => {
                "certificate signed by an unknown authority (self-signed? see --ca-file, -k)".into()
            }
            CertificateError::Revoked => "certificate revoked".into(),
            CertificateError::BadSignature => "certificate has a bad signature".into(),
            CertificateError::Other(other)
                if format!("{other:?}").contains("CaUsedAsEndEntity") =>
            {
                "the server presents a CA certificate as its own (use a certificate signed by \
                 that CA, or -k)"
                    .into()
            }
            other => format!("invalid certificate ({other:?})"),
        },
        rustls::Error::AlertReceived(alert) => match alert {
            A::CertificateRequired => {
                "the server requires a client certificate (--client-cert, --client-key)".into()
            }
            A::BadCertificate | A::UnknownCA | A::AccessDenied => {
                format!("the server rejected the client certificate (alert {alert:?})")
            }
            A::HandshakeFailure => "handshake failure (no common protocol or cipher?)".into(),
            A::ProtocolVersion => "the server does not speak TLS 1.2 or 1.3".into(),
            other => format!("the server sent alert {other:?}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "not a TLS server (unexpected reply to the handshake)".into()
        }
        rustls::Error::PeerIncompatible(p) => format!("incompatible server ({p:?})"),
        other => other.to_string(),
    }
}

/// `--insecure`: accepts any certificate, but still checks that the handshake signatures are
/// made with the key in the certificate that was presented.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
