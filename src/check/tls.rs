//! TLS for https targets: rustls with the webpki-roots store, certificates verified unless
//! `--insecure` is asked for, optional CA file, client certificate and server-name override.
//! A certificate in `--ca-file` that the server presents as its own is pinned: accepted even
//! when it is a CA or not self-signed, as long as it is in date and names the server.
//! Every failure is one sentence for a person: rustls's own texts are Debug dumps, so each
//! error it can produce is worded here. Only compiled with the `tls` feature.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, Error,
    InconsistentKeys, InvalidMessage, OtherError, PeerIncompatible, PeerMisbehaved, RootCertStore,
    SignatureScheme,
};

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
            .map_err(|e| format!("TLS set-up failed: {}", describe(&e, "")))?;
        let mut verifier = Verifier {
            roots: None,
            ca_certs: Vec::new(),
            provider: provider.clone(),
        };
        if !opts.insecure {
            let mut roots = RootCertStore::empty();
            match &opts.ca_file {
                Some(path) => {
                    let what = format!("--ca-file {}", path.display());
                    let pem = read_pem_file(path).map_err(|e| format!("{what}: {e}"))?;
                    for (n, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
                        let cert = cert.map_err(|e| format!("{what}: {}", pem_error(e)))?;
                        roots.add(cert.clone()).map_err(|_| {
                            format!(
                                "{what}: certificate {} is not a valid X.509 certificate",
                                n + 1
                            )
                        })?;
                        verifier.ca_certs.push(cert);
                    }
                    if roots.is_empty() {
                        return Err(format!("{what}: {}", nothing_found(&pem, Wanted::Cert)));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            verifier.roots = Some(roots);
        }
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let config = match (&opts.client_cert, &opts.client_key) {
            (Some(cert_path), Some(key_path)) => {
                let what = format!("--client-cert {}", cert_path.display());
                let pem = read_pem_file(cert_path).map_err(|e| format!("{what}: {e}"))?;
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{what}: {}", pem_error(e)))?;
                if chain.is_empty() {
                    return Err(format!("{what}: {}", nothing_found(&pem, Wanted::Cert)));
                }
                let what = format!("--client-key {}", key_path.display());
                let pem = read_pem_file(key_path).map_err(|e| format!("{what}: {e}"))?;
                let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
                    _ if is_encrypted(&pem) => format!("{what}: {ENCRYPTED_KEY}"),
                    rustls::pki_types::pem::Error::NoItemsFound => {
                        format!("{what}: {}", nothing_found(&pem, Wanted::Key))
                    }
                    e => format!("{what}: {}", pem_error(e)),
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| match e {
                        Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => format!(
                            "--client-key does not match --client-cert ({} is not the key of \
                             the first certificate in {})",
                            key_path.display(),
                            cert_path.display()
                        ),
                        Error::General(_) => format!(
                            "{what}: unsupported key type (use RSA of 2048 to 8192 bits, ECDSA \
                             P-256 or P-384, or Ed25519)"
                        ),
                        Error::InvalidCertificate(_) => format!(
                            "--client-cert {}: the first certificate is not a valid X.509 \
                             certificate",
                            cert_path.display()
                        ),
                        e => format!("--client-cert/--client-key: {}", describe(&e, "")),
                    })?
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
        self.connect(Vec::new(), conn, host, override_name, deadline, progress)
    }

    /// The handshake for HTTP/2 (gRPC): ALPN `h2` offered, and required of the server.
    pub fn handshake_h2(
        &self,
        conn: &mut Conn,
        host: &str,
        deadline: &Deadline,
        progress: &Progress,
    ) -> Result<(), Failure> {
        self.connect(vec![b"h2".to_vec()], conn, host, true, deadline, progress)?;
        match conn.tls.as_ref().and_then(|c| c.alpn_protocol()) {
            Some(b"h2") => Ok(()),
            _ => Err(Failure::new(
                "the server did not agree to h2 in the TLS handshake (no ALPN h2)",
            )),
        }
    }

    /// The handshake, offering the protocols in `alpn` (none for HTTP/1.1).
    fn connect(
        &self,
        alpn: Vec<Vec<u8>>,
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
        let name = ServerName::try_from(name_text.to_string()).map_err(|_| {
            Failure::new(format!(
                "TLS: invalid server name \"{}\" (not a host name or IP address)",
                printable(name_text)
            ))
        })?;
        let client = rustls::ClientConnection::new_with_alpn(self.config.clone(), name, alpn)
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

/// Reads a PEM file of at most 1 MiB (a regular file only).
fn read_pem_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    const LIMIT: usize = 1 << 20;
    let data = super::options::read_file(path, LIMIT + 1).map_err(|e| match e {
        Some(e) => crate::error::describe_io(&e),
        None => "not a regular file".into(),
    })?;
    if data.len() > LIMIT {
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
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
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

// ---------------------------------------------------------------------------------------------
// Set-up errors: the PEM files given on the command line.

const ENCRYPTED_KEY: &str = "the key is encrypted, and ward needs it unencrypted (decrypt it \
                             with: openssl pkey -in KEY -out PLAIN.key)";

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::Io(io) => crate::error::describe_io(&io),
        E::NoItemsFound => "nothing usable found in it".into(),
        E::MissingSectionEnd { .. } => "a PEM section has no END line (cut short?)".into(),
        E::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        E::Base64Decode(_) => "a PEM section is not valid base64".into(),
        _ => "not a valid PEM file".into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Wanted {
    Cert,
    Key,
}

fn is_encrypted(pem: &[u8]) -> bool {
    pem.windows(9).any(|w| w == b"ENCRYPTED")
}

/// Why a PEM file had no item of the kind wanted, from what it holds instead.
fn nothing_found(pem: &[u8], wanted: Wanted) -> String {
    let has = |label: &[u8]| pem.windows(label.len()).any(|w| w == label);
    let (thing, begin) = match wanted {
        Wanted::Cert => ("certificate", "-----BEGIN CERTIFICATE-----"),
        Wanted::Key => ("private key", "-----BEGIN PRIVATE KEY-----"),
    };
    if pem.iter().all(u8::is_ascii_whitespace) {
        format!("the file is empty, and a PEM {thing} was expected")
    } else if pem.first() == Some(&0x30) {
        format!(
            "no PEM {thing} found (the file looks like binary DER; convert it with openssl \
             {} -inform der)",
            if wanted == Wanted::Cert {
                "x509"
            } else {
                "pkey"
            }
        )
    } else if wanted == Wanted::Key && is_encrypted(pem) {
        ENCRYPTED_KEY.into()
    } else if wanted == Wanted::Key && has(b"CERTIFICATE-----") {
        "no private key found, only a certificate (is this the certificate file?)".into()
    } else if wanted == Wanted::Cert && has(b"PRIVATE KEY-----") {
        "no certificate found, only a private key (is this the key file?)".into()
    } else {
        format!("no {thing} found (expected PEM starting with {begin})")
    }
}

// ---------------------------------------------------------------------------------------------
// Handshake errors.

/// What went wrong, in the words a user needs: one line, no Debug output.
fn describe(e: &Error, name: &str) -> String {
    match e {
        Error::InvalidCertificate(c) => describe_certificate(c, name),
        Error::AlertReceived(alert) => describe_alert(*alert, name),
        Error::InvalidMessage(
            InvalidMessage::InvalidContentType
            | InvalidMessage::UnknownProtocolVersion
            | InvalidMessage::MessageTooLarge
            | InvalidMessage::MessageTooShort
            | InvalidMessage::InvalidEmptyPayload,
        )
        | Error::InappropriateMessage { .. } => {
            "not a TLS server (unexpected reply to the handshake)".into()
        }
        Error::InvalidMessage(_)
        | Error::InappropriateHandshakeMessage { .. }
        | Error::PeerSentOversizedRecord => {
            "the server sent a malformed or out-of-order TLS message (a broken TLS server?)".into()
        }
        Error::PeerIncompatible(p) => describe_incompatible(p),
        Error::PeerMisbehaved(PeerMisbehaved::AttemptedDowngradeToTls12WhenTls13IsSupported) => {
            "the server supports TLS 1.3 but answered with TLS 1.2 (a middlebox interfering?)"
                .into()
        }
        Error::PeerMisbehaved(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme) => {
            "the server signed the handshake with an algorithm ward did not offer".into()
        }
        Error::PeerMisbehaved(_) => {
            "the server broke the TLS protocol (a buggy TLS server, or a middlebox interfering)"
                .into()
        }
        Error::NoCertificatesPresented => "the server sent no certificate".into(),
        Error::UnsupportedNameType => {
            format!("cannot check a certificate for \"{}\"", printable(name))
        }
        Error::DecryptError => {
            "a TLS record from the server could not be decrypted (the connection was corrupted)"
                .into()
        }
        Error::EncryptError => "a TLS record could not be encrypted".into(),
        Error::InvalidCertRevocationList(_) => {
            "a certificate revocation list could not be used".into()
        }
        Error::FailedToGetCurrentTime => {
            "the system clock could not be read to check the certificate".into()
        }
        Error::FailedToGetRandomBytes => "the system gave no random numbers".into(),
        Error::HandshakeNotComplete => "the handshake did not complete".into(),
        Error::NoApplicationProtocol => {
            "no application protocol (ALPN) in common with the server".into()
        }
        Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
            "--client-key does not match --client-cert".into()
        }
        Error::InconsistentKeys(_) => {
            "--client-key could not be checked against --client-cert".into()
        }
        Error::Other(other) => refusal(other).unwrap_or_else(|| fallback(&other.to_string())),
        Error::General(text) => fallback(text),
        _ => fallback(""),
    }
}

/// "TLS error: TEXT" when TEXT reads as a sentence, else a plain one: the texts of rustls's
/// and webpki's errors are often Debug output (variant names, byte lists).
fn fallback(text: &str) -> String {
    let debug_like = text.contains(['{', '[', '(', ':'])
        || text
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
    if text.is_empty() || debug_like {
        "the TLS handshake failed (an error ward has no words for)".into()
    } else {
        format!("TLS error: {text}")
    }
}

fn describe_certificate(c: &CertificateError, name: &str) -> String {
    use CertificateError as C;
    #[allow(deprecated)]
    match c {
        C::NotValidForName => {
            format!("certificate not valid for name {name} (see --tls-server-name)")
        }
        C::NotValidForNameContext { presented, .. } => {
            let names: Vec<String> = presented.iter().filter_map(|n| presented_name(n)).collect();
            if names.is_empty() {
                format!(
                    "certificate not valid for name {name} (it names no host in \
                     subjectAltName, and the common name is not used)"
                )
            } else {
                let mut list = names[..names.len().min(3)].join(", ");
                if names.len() > 3 {
                    list.push_str(&format!(" and {} more", names.len() - 3));
                }
                format!(
                    "certificate not valid for name {name} (it is for {list}; see --tls-server-name)"
                )
            }
        }
        C::Expired => "certificate expired (or its validity dates are invalid)".into(),
        C::ExpiredContext { not_after, .. } => format!(
            "certificate expired on {} (renew it, or check this machine's clock)",
            format_time(not_after.as_secs() as i64)
        ),
        C::NotValidYet => "certificate not valid yet (check this machine's clock)".into(),
        C::NotValidYetContext { not_before, .. } => format!(
            "certificate not valid yet: only from {} (check this machine's clock)",
            format_time(not_before.as_secs() as i64)
        ),
        C::UnknownIssuer => {
            "certificate signed by an unknown authority (self-signed? see --ca-file, -k)".into()
        }
        C::Revoked => "certificate revoked".into(),
        C::BadEncoding => "the server's certificate is malformed (not valid DER X.509)".into(),
        C::UnhandledCriticalExtension => CRITICAL_EXTENSION.into(),
        // From the chain only: handshake signatures are worded in Verifier::signature.
        C::BadSignature => "certificate signed by an unknown authority (a trusted CA has the \
                            same name, but its key did not sign it: re-generated? see --ca-file)"
            .into(),
        C::UnsupportedSignatureAlgorithm => UNSUPPORTED_SIGNATURE.into(),
        C::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id,
            ..
        } => signature_problem(signature_algorithm_id).unwrap_or(UNSUPPORTED_SIGNATURE.into()),
        C::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id,
            public_key_algorithm_id,
        } => signature_problem(signature_algorithm_id)
            .or_else(|| {
                key_problem(public_key_algorithm_id, &[])
                    .map(|p| format!("a CA certificate in the server's chain {p}"))
            })
            .unwrap_or(UNSUPPORTED_SIGNATURE.into()),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => WRONG_PURPOSE.into(),
        C::UnknownRevocationStatus
        | C::ExpiredRevocationList
        | C::ExpiredRevocationListContext { .. } => {
            "the certificate's revocation status could not be checked".into()
        }
        C::InvalidOcspResponse => "the server sent an invalid OCSP response".into(),
        C::ApplicationVerificationFailure => "the server's certificate was rejected".into(),
        C::Other(other) => refusal(other).unwrap_or_else(|| webpki_problem(other)),
        _ => "the server's certificate was rejected (for a reason ward has no words for)".into(),
    }
}

/// A DNS name or IP address from the certificate, out of webpki's Debug text for it
/// (`DnsName("a.test")`, `IpAddress(10.0.0.1)`); other kinds of names are left out. The server
/// chose the bytes: anything unusual becomes '?', and the length is capped.
fn presented_name(debug: &str) -> Option<String> {
    let name = debug
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| debug.strip_prefix("IpAddress(")?.strip_suffix(')'))?;
    Some(
        name.chars()
            .take(64)
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '*' | ':' => c,
                _ => '?',
            })
            .collect(),
    )
}

const CRITICAL_EXTENSION: &str =
    "the server's certificate has a critical extension that ward's TLS library does not know";
const UNSUPPORTED_SIGNATURE: &str = "a certificate in the server's chain is signed with an \
     algorithm ward's TLS library does not support (use RSA, ECDSA P-256/P-384 or Ed25519 with \
     SHA-256 or better)";
const WRONG_PURPOSE: &str = "the server's certificate is not allowed for TLS server \
     authentication (its extended key usage lacks serverAuth; re-issue it with \
     extendedKeyUsage=serverAuth)";

/// The errors webpki reports that rustls passes on as "other": only their Debug text names
/// them, and that text is matched here, never shown.
fn webpki_problem(other: &OtherError) -> String {
    let text = other.to_string();
    let kind = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    match kind {
        "CaUsedAsEndEntity" => "the server's certificate is a CA certificate that is not in \
             --ca-file (to trust it, put exactly that certificate in --ca-file)"
            .into(),
        "EndEntityUsedAsCa" => {
            "a certificate in the server's chain signs another but is not a CA certificate".into()
        }
        "PathLenConstraintViolated" => {
            "the server's certificate chain is longer than a CA in it allows".into()
        }
        "NameConstraintViolation" => {
            "the server's certificate names are outside what its CA may sign".into()
        }
        "MaximumSignatureChecksExceeded"
        | "MaximumPathBuildCallsExceeded"
        | "MaximumPathDepthExceeded"
        | "MaximumNameConstraintComparisonsExceeded" => {
            "the server's certificate chain is too long or complex to verify".into()
        }
        "CertDistrusted" => "the server's certificate chain uses a distrusted CA".into(),
        "EmptyEkuExtension" | "RequiredEkuNotFound" => WRONG_PURPOSE.into(),
        "UnsupportedCertVersion" => "the server's certificate is not X.509 version 3".into(),
        "UnsupportedCriticalExtension" => CRITICAL_EXTENSION.into(),
        _ => "the server's certificate is malformed or unusual, and ward's TLS library cannot \
              verify it"
            .into(),
    }
}

fn describe_alert(alert: AlertDescription, name: &str) -> String {
    use AlertDescription as A;
    let words = match alert {
        A::CloseNotify => return "the server closed the connection during the handshake".into(),
        A::CertificateRequired => {
            return "the server requires a client certificate (--client-cert, --client-key)".into();
        }
        A::HandshakeFailure => {
            return "the server refused the handshake (no cipher, key exchange or certificate \
                    type in common, e.g. an ECDSA P-521 certificate; or it wants a client \
                    certificate: see --client-cert)"
                .into();
        }
        A::ProtocolVersion => return "the server does not speak TLS 1.2 or 1.3".into(),
        A::InsufficientSecurity => {
            return "the server wants stronger ciphers than ward offers".into();
        }
        A::UnrecognisedName => {
            return format!("the server does not know the name {name} (see --tls-server-name)");
        }
        A::InternalError => return "the server had an internal error in the handshake".into(),
        A::NoApplicationProtocol => {
            return "no application protocol (ALPN) in common with the server".into();
        }
        A::NoCertificate => "no certificate",
        A::BadCertificate => "bad certificate",
        A::UnsupportedCertificate => "unsupported certificate",
        A::CertificateRevoked => "certificate revoked",
        A::CertificateExpired => "certificate expired",
        A::CertificateUnknown => "certificate unknown",
        A::UnknownCA => "unknown CA",
        A::AccessDenied => "access denied",
        A::UnexpectedMessage => "unexpected message",
        A::BadRecordMac => "bad record MAC",
        A::DecryptionFailed => "decryption failed",
        A::RecordOverflow => "record overflow",
        A::DecompressionFailure => "decompression failure",
        A::IllegalParameter => "illegal parameter",
        A::DecodeError => "decode error",
        A::DecryptError => "decrypt error",
        A::ExportRestriction => "export restriction",
        A::InappropriateFallback => "inappropriate fallback",
        A::UserCanceled => "user canceled",
        A::NoRenegotiation => "no renegotiation",
        A::MissingExtension => "missing extension",
        A::UnsupportedExtension => "unsupported extension",
        A::CertificateUnobtainable => "certificate unobtainable",
        A::BadCertificateStatusResponse => "bad certificate status response",
        A::BadCertificateHashValue => "bad certificate hash value",
        A::UnknownPSKIdentity => "unknown PSK identity",
        A::EncryptedClientHelloRequired => "encrypted client hello required",
        other => return format!("the server sent TLS alert number {}", u8::from(other)),
    };
    if matches!(
        alert,
        A::NoCertificate
            | A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
    ) {
        format!(
            "the server rejected the client certificate, or wants one (alert \"{words}\"; see \
             --client-cert, --client-key)"
        )
    } else {
        format!("the server sent TLS alert \"{words}\"")
    }
}

fn describe_incompatible(p: &PeerIncompatible) -> String {
    use PeerIncompatible as P;
    match p {
        P::ServerDoesNotSupportTls12Or13
        | P::SupportedVersionsExtensionRequired
        | P::Tls12NotOffered
        | P::Tls12NotOfferedOrEnabled
        | P::ServerTlsVersionIsDisabledByOurConfig => "the server does not speak TLS 1.2 or 1.3",
        P::NoCipherSuitesInCommon => {
            "no cipher suite in common with the server (ward offers AES-GCM and \
             ChaCha20-Poly1305 with ECDHE)"
        }
        P::NoKxGroupsInCommon | P::NamedGroupsExtensionRequired | P::KeyShareExtensionRequired => {
            "no key exchange group in common with the server (ward offers X25519, P-256 and \
             P-384)"
        }
        P::NoSignatureSchemesInCommon | P::SignatureAlgorithmsExtensionRequired => {
            "no signature algorithm in common with the server"
        }
        P::NoCertificateRequestSignatureSchemesInCommon => {
            "the server asks for a client certificate signature that ward cannot make"
        }
        P::ExtendedMasterSecretExtensionRequired => {
            "the server lacks the TLS 1.2 extended master secret extension, which is required"
        }
        _ => "the server's TLS implementation is incompatible with ward's",
    }
    .into()
}

// ---------------------------------------------------------------------------------------------
// Certificate verification.

/// Verifies the server's certificate against the roots (None for `--insecure`, which accepts
/// any certificate) as rustls's WebPkiServerVerifier does (without its revocation code, which
/// ward has no use for), accepts a certificate that is byte for byte one of `ca_certs`
/// (pinning), and checks the handshake signatures with the certificate's key. Failures it can
/// explain better than rustls come out as a [`Refusal`].
#[derive(Debug)]
struct Verifier {
    roots: Option<RootCertStore>,
    ca_certs: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    /// A pinned certificate: no chain to check, but it must be in date, meant for TLS servers
    /// and valid for the name.
    fn verify_pinned(
        &self,
        cert: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let facts = CertFacts::parse(cert).ok_or(CertificateError::BadEncoding)?;
        let time = |secs: i64| {
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs.max(0) as u64))
        };
        let now_secs = now.as_secs() as i64;
        if now_secs < facts.not_before {
            return Err(CertificateError::NotValidYetContext {
                time: now,
                not_before: time(facts.not_before),
            }
            .into());
        }
        if now_secs > facts.not_after {
            return Err(CertificateError::ExpiredContext {
                time: now,
                not_after: time(facts.not_after),
            }
            .into());
        }
        if let Some(mut ekus) = facts.eku {
            const SERVER_AUTH: &[u8] = &[0x2b, 6, 1, 5, 5, 7, 3, 1];
            let mut found = false;
            while let Some((_, oid, rest)) = der(ekus) {
                found |= oid == SERVER_AUTH;
                ekus = rest;
            }
            if !found {
                return Err(CertificateError::InvalidPurpose.into());
            }
        }
        verify_server_name(&ParsedCertificate::try_from(cert)?, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    /// A chain signature that does not verify because a CA in it has an RSA key ring refuses
    /// (under 2048 bits): webpki calls that a bad signature.
    fn weak_ca(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Option<String> {
        let issuers: Vec<&[u8]> = std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(|c| CertFacts::parse(c).map(|f| f.issuer))
            .collect();
        intermediates
            .iter()
            .chain(&self.ca_certs)
            .filter_map(|c| CertFacts::parse(c))
            .filter(|f| issuers.contains(&f.subject))
            .find_map(|f| key_problem(f.key_algorithm, f.key))
            .map(|p| format!("a CA certificate in the server's chain {p}"))
    }

    /// Words a failed handshake signature check, first by what is wrong with the key.
    fn signature(
        &self,
        result: Result<HandshakeSignatureValid, Error>,
        cert: &CertificateDer<'_>,
        scheme: SignatureScheme,
    ) -> Result<HandshakeSignatureValid, Error> {
        let err = match result {
            Ok(valid) => return Ok(valid),
            Err(e) => e,
        };
        if let Some(p) = CertFacts::parse(cert).and_then(|f| key_problem(f.key_algorithm, f.key)) {
            return Err(refuse(format!("the server's certificate {p}")));
        }
        Err(match err {
            _ if scheme == SignatureScheme::ECDSA_NISTP521_SHA512 => refuse(
                "the server signed the handshake with ECDSA and SHA-512, which ward's TLS \
                 library does not support"
                    .into(),
            ),
            Error::InvalidCertificate(CertificateError::BadSignature) => refuse(
                "the server's handshake signature does not verify with the key in its \
                 certificate (does the server use the key that belongs to its certificate?)"
                    .into(),
            ),
            Error::InvalidCertificate(
                CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. },
            ) => refuse(
                "the server's handshake signature does not suit the key in its certificate".into(),
            ),
            other => other,
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let algorithms = self.provider.signature_verification_algorithms.all;
        let verified = ParsedCertificate::try_from(end_entity).and_then(|cert| {
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                algorithms,
            )?;
            verify_server_name(&cert, server_name)
        });
        match verified {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(_)
                if self
                    .ca_certs
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                self.verify_pinned(end_entity, server_name, now)
            }
            Err(Error::InvalidCertificate(CertificateError::BadSignature)) => Err(self
                .weak_ca(end_entity, intermediates)
                .map_or(CertificateError::BadSignature.into(), refuse)),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        self.signature(
            verify_tls12_signature(message, cert, dss, algorithms),
            cert,
            dss.scheme,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        self.signature(
            verify_tls13_signature(message, cert, dss, algorithms),
            cert,
            dss.scheme,
        )
    }

    /// What rustls can verify, plus ECDSA P-521 (last, least preferred): a TLS 1.3 server with
    /// only a P-521 certificate would otherwise refuse the handshake with nothing to say why.
    /// Its signature then fails in [`Verifier::signature`] with the reason.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self
            .provider
            .signature_verification_algorithms
            .supported_schemes();
        schemes.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        schemes
    }
}

/// A verification failure already worded for the user, carried through rustls as an "other"
/// certificate error.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

fn refuse(msg: String) -> Error {
    CertificateError::Other(OtherError(Arc::new(Refusal(msg)))).into()
}

fn refusal(other: &OtherError) -> Option<String> {
    other.0.downcast_ref::<Refusal>().map(|r| r.0.clone())
}

// ---------------------------------------------------------------------------------------------
// Just enough X.509 to word failures and check a pinned certificate: webpki keeps these
// fields to itself.

/// The parts of a certificate read here. Names and algorithm identifiers are DER contents.
struct CertFacts<'a> {
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: i64,
    not_after: i64,
    key_algorithm: &'a [u8],
    /// The subjectPublicKey BIT STRING contents (unused-bits byte first).
    key: &'a [u8],
    /// The extended key usage OIDs (a SEQUENCE's contents), if the extension is there.
    eku: Option<&'a [u8]>,
}

impl<'a> CertFacts<'a> {
    fn parse(cert: &'a [u8]) -> Option<CertFacts<'a>> {
        let (_, cert, _) = der(cert)?;
        let (_, tbs, _) = der(cert)?;
        let (tag, _, mut rest) = der(tbs)?;
        if tag == 0xa0 {
            rest = der(rest)?.2; // [0] version, then the serial number
        }
        let (_, _, rest) = der(rest)?; // signature algorithm
        let (_, issuer, rest) = der(rest)?;
        let (_, validity, rest) = der(rest)?;
        let (_, subject, rest) = der(rest)?;
        let (_, spki, mut rest) = der(rest)?;
        let (tag, time, validity) = der(validity)?;
        let not_before = der_time(tag, time)?;
        let (tag, time, _) = der(validity)?;
        let not_after = der_time(tag, time)?;
        let (_, key_algorithm, spki) = der(spki)?;
        let (_, key, _) = der(spki)?;
        let mut eku = None;
        while let Some((tag, body, next)) = der(rest) {
            rest = next;
            if tag != 0xa3 {
                continue;
            }
            let (_, mut extensions, _) = der(body)?;
            while let Some((_, extension, next)) = der(extensions) {
                extensions = next;
                let (_, oid, mut value) = der(extension)?;
                if oid != [0x55, 0x1d, 0x25] {
                    continue;
                }
                let (mut tag, mut octets, next) = der(value)?;
                if tag == 0x01 {
                    value = next; // critical flag
                    (tag, octets, _) = der(value)?;
                }
                if tag != 0x04 {
                    return None;
                }
                eku = Some(der(octets)?.1);
            }
        }
        Some(CertFacts {
            issuer,
            subject,
            not_before,
            not_after,
            key_algorithm,
            key,
            eku,
        })
    }
}

/// `text` with control characters replaced, at most 100 characters: for names the user gave.
fn printable(text: &str) -> String {
    text.chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// One DER element: (tag, contents, what follows). Single-byte tags, lengths below 16 MiB.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let (bytes, after) = rest.split_at_checked(usize::from(first & 0x7f))?;
        if bytes.is_empty() || bytes.len() > 3 {
            return None;
        }
        rest = after;
        bytes.iter().fold(0, |n, &b| n << 8 | usize::from(b))
    };
    let (body, rest) = rest.split_at_checked(len)?;
    Some((tag, body, rest))
}

/// A UTCTime or GeneralizedTime (the DER forms: UTC, whole seconds) as Unix seconds.
fn der_time(tag: u8, text: &[u8]) -> Option<i64> {
    let (year_digits, len) = match tag {
        0x17 => (2, 13),
        0x18 => (4, 15),
        _ => return None,
    };
    if text.len() != len || text.last() != Some(&b'Z') {
        return None;
    }
    let mut fields = [0i64; 6];
    let mut at = 0;
    for (i, field) in fields.iter_mut().enumerate() {
        let width = if i == 0 { year_digits } else { 2 };
        for &c in text.get(at..at + width)? {
            if !c.is_ascii_digit() {
                return None;
            }
            *field = *field * 10 + i64::from(c - b'0');
        }
        at += width;
    }
    let [mut year, month, day, hour, minute, second] = fields;
    if tag == 0x17 {
        year += if year >= 50 { 1900 } else { 2000 };
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Unix seconds as "2021-01-01 00:00:00 UTC".
fn format_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// OIDs as DER (tag, length, value), the way algorithm identifiers start.
const RSA: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1];
const RSA_PSS: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 10];
const EC: &[u8] = &[6, 7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1];
const P256: &[u8] = &[6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 3, 1, 7];
const P384: &[u8] = &[6, 5, 0x2b, 0x81, 4, 0, 0x22];
const P521: &[u8] = &[6, 5, 0x2b, 0x81, 4, 0, 0x23];
const ED25519: &[u8] = &[6, 3, 0x2b, 0x65, 0x70];
const ED448: &[u8] = &[6, 3, 0x2b, 0x65, 0x71];
const DSA: &[u8] = &[6, 7, 0x2a, 0x86, 0x48, 0xce, 0x38, 4, 1];
const SHA1_SIGNATURES: [&[u8]; 4] = [
    &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 5], // sha1WithRSAEncryption
    &[6, 7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 1],          // ecdsa-with-SHA1
    &[6, 7, 0x2a, 0x86, 0x48, 0xce, 0x38, 4, 3],          // dsa-with-sha1
    &[6, 5, 0x2b, 0x0e, 3, 2, 0x1d],                      // sha1WithRSASignature (OIW)
];
const MD5_SIGNATURES: [&[u8]; 2] = [
    &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 4], // md5WithRSAEncryption
    &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 2], // md2WithRSAEncryption
];
const ECDSA_SHA512: &[u8] = &[6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 4];

/// What is wrong with a public key for ring ("uses ECDSA P-521, which ..."), from its
/// algorithm identifier and, for RSA, the key itself (empty when unknown).
fn key_problem(algorithm: &[u8], key: &[u8]) -> Option<String> {
    const USE: &str = "use P-256, P-384, RSA or Ed25519";
    let unsupported = |what: &str| {
        Some(format!(
            "uses {what}, which ward's TLS library does not support ({USE})"
        ))
    };
    if algorithm.starts_with(EC) {
        let curve = &algorithm[EC.len()..];
        if curve == P256 || curve == P384 {
            None
        } else if curve == P521 {
            unsupported("ECDSA P-521")
        } else {
            unsupported("an elliptic curve other than P-256 and P-384")
        }
    } else if algorithm.starts_with(RSA) {
        // BIT STRING: unused-bits byte, then SEQUENCE { modulus INTEGER, exponent INTEGER }.
        let (_, numbers, _) = der(key.get(1..)?)?;
        let (_, modulus, _) = der(numbers)?;
        let start = modulus.iter().position(|&b| b != 0)?;
        let bits = (modulus.len() - start) * 8 - modulus[start].leading_zeros() as usize;
        (!(2048..=8192).contains(&bits)).then(|| {
            format!(
                "has a {bits}-bit RSA key, which ward's TLS library does not accept (RSA keys \
                 need 2048 to 8192 bits)"
            )
        })
    } else if algorithm.starts_with(RSA_PSS) {
        unsupported("an RSA-PSS-only key (id-RSASSA-PSS)")
    } else if algorithm.starts_with(ED448) {
        unsupported("Ed448")
    } else if algorithm.starts_with(DSA) {
        unsupported("DSA")
    } else if algorithm.starts_with(ED25519) {
        None
    } else {
        Some(format!(
            "uses a key type that ward's TLS library does not know ({USE})"
        ))
    }
}

/// What is wrong with a certificate's signature algorithm, when something specific is.
fn signature_problem(algorithm: &[u8]) -> Option<String> {
    let chain = "the server's certificate (or a CA certificate in its chain) is signed with";
    if SHA1_SIGNATURES.iter().any(|oid| algorithm.starts_with(oid)) {
        Some(format!(
            "{chain} SHA-1, and SHA-1 signatures are not accepted (re-issue it with SHA-256)"
        ))
    } else if MD5_SIGNATURES.iter().any(|oid| algorithm.starts_with(oid)) {
        Some(format!(
            "{chain} MD5, and MD5 signatures are not accepted (re-issue it with SHA-256)"
        ))
    } else if algorithm.starts_with(ECDSA_SHA512) {
        Some(format!(
            "{chain} ECDSA and SHA-512 (by a P-521 CA?), which ward's TLS library does not \
             support (use a CA key of P-256, P-384, RSA or Ed25519)"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(text: &str) {
        assert!(!text.is_empty());
        assert!(!text.contains(['{', '\n']), "{text}");
        assert!(!text.contains("::"), "{text}");
        for word in [
            "Context",
            "Mismatch",
            "Unsupported",
            "Invalid",
            "Peer",
            "Error",
        ] {
            assert!(!text.contains(word), "{text}");
        }
    }

    #[test]
    fn tls_times_and_dates() {
        assert_eq!(der_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(der_time(0x17, b"491231235959Z"), Some(2524607999));
        assert_eq!(der_time(0x18, b"20210101000000Z"), Some(1609459200));
        assert_eq!(der_time(0x18, b"20210101000000+0100"), None);
        assert_eq!(der_time(0x17, b"211301000000Z"), None);
        assert_eq!(format_time(1609459200), "2021-01-01 00:00:00 UTC");
        assert_eq!(format_time(951827696), "2000-02-29 12:34:56 UTC");
        for days in [-800_000, -1, 0, 59, 60, 365, 11_016, 2_932_896] {
            let text = format_time(days * 86400);
            let (y, m, d) = (
                &text[..text.len() - 19],
                &text[text.len() - 18..text.len() - 16],
                &text[text.len() - 15..text.len() - 13],
            );
            let parse = |s: &str| s.parse::<i64>().unwrap();
            assert_eq!(
                days_from_civil(parse(y), parse(m), parse(d)),
                days,
                "{text}"
            );
        }
    }

    #[test]
    fn tls_der_reader_refuses_truncation() {
        assert_eq!(
            der(&[0x30, 0x03, 1, 2, 3, 9]),
            Some((0x30, &[1u8, 2, 3][..], &[9u8][..]))
        );
        assert_eq!(
            der(&[0x30, 0x81, 0x02, 1, 2]),
            Some((0x30, &[1u8, 2][..], &[][..]))
        );
        assert_eq!(der(&[0x30, 0x04, 1, 2, 3]), None);
        assert_eq!(der(&[0x30, 0x80]), None);
        assert_eq!(der(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(der(&[0x30]), None);
        assert!(CertFacts::parse(&[0x30, 0x02, 0x30, 0x00]).is_none());
    }

    #[test]
    fn tls_key_problems() {
        let p521 = [EC, P521].concat();
        assert_eq!(
            key_problem(&p521, &[]).unwrap(),
            "uses ECDSA P-521, which ward's TLS library does not support (use P-256, P-384, \
             RSA or Ed25519)"
        );
        assert_eq!(key_problem(&[EC, P256].concat(), &[]), None);
        assert_eq!(key_problem(ED25519, &[]), None);
        // A 1024-bit modulus (leading zero byte, top bit set) and a 2048-bit one.
        let rsa_key = |len: usize| {
            let mut modulus = vec![0x02, 0x82, (len >> 8) as u8, len as u8, 0];
            modulus.extend(std::iter::repeat_n(0xff, len - 1));
            let mut numbers = vec![0x30, 0x82, 0, 0];
            numbers.extend(modulus);
            numbers.extend([2, 3, 1, 0, 1]);
            let n = numbers.len() - 4;
            numbers[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            [&[0u8][..], &numbers].concat()
        };
        assert!(
            key_problem(RSA, &rsa_key(129))
                .unwrap()
                .contains("1024-bit RSA key")
        );
        assert_eq!(key_problem(RSA, &rsa_key(257)), None);
        assert!(
            signature_problem(SHA1_SIGNATURES[0])
                .unwrap()
                .contains("SHA-1 signatures are not accepted")
        );
    }

    #[test]
    fn tls_every_error_is_one_human_line() {
        let mut errors: Vec<Error> = (0..=255u8)
            .map(|a| Error::AlertReceived(AlertDescription::from(a)))
            .collect();
        #[allow(deprecated)]
        let certificate_errors = [
            CertificateError::BadEncoding,
            CertificateError::Expired,
            CertificateError::NotValidYet,
            CertificateError::Revoked,
            CertificateError::UnhandledCriticalExtension,
            CertificateError::UnknownIssuer,
            CertificateError::UnknownRevocationStatus,
            CertificateError::ExpiredRevocationList,
            CertificateError::BadSignature,
            CertificateError::UnsupportedSignatureAlgorithm,
            CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: vec![6, 7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 1],
                supported_algorithms: vec![],
            },
            CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: vec![6, 1, 1],
                supported_algorithms: vec![],
            },
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: vec![6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2],
                public_key_algorithm_id: [EC, P521].concat(),
            },
            CertificateError::NotValidForName,
            CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("a.test").unwrap(),
                presented: vec![
                    "b.test".into(),
                    "c.test".into(),
                    "d.test".into(),
                    "e".into(),
                ],
            },
            CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("a.test").unwrap(),
                presented: vec![],
            },
            CertificateError::InvalidPurpose,
            CertificateError::InvalidOcspResponse,
            CertificateError::ApplicationVerificationFailure,
            CertificateError::Other(OtherError(Arc::new(io::Error::other("CaUsedAsEndEntity")))),
            CertificateError::Other(OtherError(Arc::new(io::Error::other("Whatever { x: 1 }")))),
        ];
        errors.extend(
            certificate_errors
                .into_iter()
                .map(Error::InvalidCertificate),
        );
        errors.extend([
            Error::InvalidMessage(InvalidMessage::InvalidContentType),
            Error::InvalidMessage(InvalidMessage::MissingData("x")),
            Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
            Error::PeerIncompatible(PeerIncompatible::Tls13RequiredForQuic),
            Error::PeerMisbehaved(PeerMisbehaved::IllegalHelloRetryRequestWithEmptyCookie),
            Error::PeerMisbehaved(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme),
            Error::NoCertificatesPresented,
            Error::DecryptError,
            Error::PeerSentOversizedRecord,
            Error::InconsistentKeys(InconsistentKeys::KeyMismatch),
            Error::General("failed to parse private key as RSA, ECDSA, or EdDSA".into()),
            Error::General("Something { weird }".into()),
            Error::FailedToGetCurrentTime,
            Error::HandshakeNotComplete,
            refuse("the server's certificate uses ECDSA P-521".into()),
        ]);
        for e in &errors {
            human(&describe(e, "a.test"));
        }
        assert_eq!(
            describe(&Error::General("no good".into()), "x"),
            "TLS error: no good"
        );
        assert!(describe(&errors[0], "x").contains("closed"));
    }

    #[test]
    fn tls_presented_names() {
        assert_eq!(presented_name("DnsName(\"a.test\")").unwrap(), "a.test");
        assert_eq!(presented_name("IpAddress(10.0.0.1)").unwrap(), "10.0.0.1");
        assert_eq!(presented_name("IpAddress(::1)").unwrap(), "::1");
        assert_eq!(presented_name("DnsName(\"a\\nb{\")").unwrap(), "a?nb?");
        assert_eq!(presented_name("DirectoryName"), None);
        let e = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("a.test").unwrap(),
            presented: vec!["DnsName(\"b.test\")".into(), "IpAddress(127.0.0.1)".into()],
        };
        assert_eq!(
            describe_certificate(&e, "a.test"),
            "certificate not valid for name a.test (it is for b.test, 127.0.0.1; see \
             --tls-server-name)"
        );
    }

    #[test]
    fn tls_missing_pem_items_say_what_is_there() {
        human(&nothing_found(b"", Wanted::Cert));
        assert!(nothing_found(b"\x30\x82\x01", Wanted::Cert).contains("DER"));
        assert!(
            nothing_found(b"-----BEGIN ENCRYPTED PRIVATE KEY-----", Wanted::Key)
                .contains("encrypted")
        );
        assert!(
            nothing_found(b"-----BEGIN CERTIFICATE-----", Wanted::Key)
                .contains("only a certificate")
        );
        assert!(
            nothing_found(b"-----BEGIN PRIVATE KEY-----", Wanted::Cert)
                .contains("only a private key")
        );
        human(&pem_error(rustls::pki_types::pem::Error::Base64Decode(
            "x".into(),
        )));
    }
}
