//! Sealing personal data at rest in Redis.
//!
//! # Where the keys live
//!
//! Two things of a citizen's touch Redis: the request (names, date of birth,
//! national id, e-mail) while it waits for a worker, and the finished PDF for
//! [`crate::config::Config::result_ttl`]. Neither is ever stored readable.
//!
//! 1. **The passport key** is an X25519 key pair made fresh for every
//!    passport request. Its *secret* half goes to the citizen only, in the
//!    `__Secure-waitroom-pk-<id>` cookie (`HttpOnly; Secure;
//!    SameSite=Strict`, path-scoped to that passport), and is never written
//!    anywhere on the server. The job in Redis holds only the *public* half.
//! 2. **The PDF** is sealed to that public key by the worker ([`seal_to`]):
//!    an ephemeral X25519 key agreement, HKDF-SHA256, then
//!    ChaCha20-Poly1305 with the resulting fresh random key. Only the holder
//!    of the cookie can open it ([`open_with`]), which the origin does on
//!    `GET /api/passports/{id}/pdf` with the key the browser just sent. A
//!    wrong or missing key fails authentication: `404`.
//! 3. **The queued request** must be readable by whichever worker picks the
//!    job up, while the citizen is not there. It is sealed with
//!    ChaCha20-Poly1305 under `HKDF(JOB_SEAL_KEY, job_id)` ([`JobKeys::seal`]),
//!    a secret of the origin processes that is never in Redis, and deleted
//!    from the job as soon as the job ends (ready, rejected or failed). The
//!    associated data is `job_id ‖ pk ‖ session` ([`JobBinding`]): whoever
//!    can write to Redis and copies their own job's `pk` and `session` onto
//!    another job makes that job unreadable (it fails), instead of having
//!    the victim's passport sealed to their key and shown to their session.
//! 4. **Redis names** derived from a session, ticket or national id are
//!    keyed hashes ([`JobKeys::tag`]: HMAC-SHA256 under a key derived from
//!    `JOB_SEAL_KEY`), never the id itself: a Redis dump cannot be joined
//!    with a cookie, a log line or a list of national ids without the key.
//!
//! `JOB_SEAL_KEY` is a key ring ([`JobKeys`]): the first key seals and names,
//! every key opens and matches, so a rotation loses no queued job.
//!
//! # Threat model
//!
//! - *A Redis dump or replica* (the likely leak): shows job ids, statuses,
//!   plain-words reasons, public keys, keyed hashes of session and ticket
//!   ids and of national ids (attempt counters), and ciphertext.
//!   No name, date of birth, national id, e-mail or PDF can be read.
//! - *Write access to Redis*: can destroy or fail jobs, but not redirect a
//!   passport to another key or session (the associated data above).
//! - *A Redis dump plus the origin's secrets*: reveals requests still queued
//!   at that moment (minutes' worth on a normal day), but still no finished
//!   passport: those need the citizen's cookie.
//! - *A compromised running origin*: sees what it processes while it runs.
//!   Nothing here defends against that; it is why the origin is small.
//! - *Another citizen* who learns a passport id: needs the same session (the
//!   admission ticket's `session_id`) and the key cookie; without either,
//!   `404`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chacha20poly1305::{
    aead::{Aead, KeyInit as _, Payload},
    ChaCha20Poly1305, Key, Nonce,
};
use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

const NONCE_LEN: usize = 12;
const PUBLIC_LEN: usize = 32;
const PDF_INFO: &[u8] = b"waitroom pdf v1";
const JOB_INFO: &[u8] = b"waitroom job v1";
/// Labels of the two keys derived from each `JOB_SEAL_KEY` secret.
const SEAL_ROOT_INFO: &[u8] = b"waitroom origin job seal v1";
const INDEX_INFO: &[u8] = b"waitroom origin redis names v1";
/// First bytes of a sealed job's associated data.
const JOB_AAD: &[u8] = b"waitroom job aad v2";

/// Fills `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("the OS random source is available");
    b
}

/// HKDF-SHA256 (RFC 5869) with an empty salt, one output block.
pub fn derive_key(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut okm)
        .expect("32 bytes is one SHA-256 block");
    okm
}

/// A fresh passport key pair: (secret for the citizen's cookie, public for
/// the job).
pub fn new_passport_key() -> ([u8; 32], [u8; 32]) {
    let secret = random_bytes::<32>();
    let public = PublicKey::from(&StaticSecret::from(secret));
    (secret, public.to_bytes())
}

fn aead(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(key))
}

/// Seals `plaintext` so that only the holder of the secret matching
/// `public` can open it. Output: ephemeral public key ‖ nonce ‖ ciphertext.
pub fn seal_to(public: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let ephemeral = StaticSecret::from(random_bytes::<32>());
    let eph_public = PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*public));
    let key = derive_key(
        shared.as_bytes(),
        &[PDF_INFO, eph_public.as_bytes(), public].concat(),
    );
    let nonce = random_bytes::<NONCE_LEN>();
    let ct = aead(&key)
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .expect("ChaCha20-Poly1305 encrypts any length we produce");
    [eph_public.as_bytes().as_slice(), &nonce, &ct].concat()
}

/// Opens what [`seal_to`] sealed; `None` for a wrong key or tampering.
pub fn open_with(secret: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < PUBLIC_LEN + NONCE_LEN {
        return None;
    }
    let (eph, rest) = sealed.split_at(PUBLIC_LEN);
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let eph: [u8; 32] = eph.try_into().ok()?;
    let secret = StaticSecret::from(*secret);
    let public = PublicKey::from(&secret);
    let shared = secret.diffie_hellman(&PublicKey::from(eph));
    if !shared.was_contributory() {
        return None;
    }
    let key = derive_key(
        shared.as_bytes(),
        &[PDF_INFO, &eph, public.as_bytes()].concat(),
    );
    aead(&key).decrypt(Nonce::from_slice(nonce), ct).ok()
}

/// What a sealed job is bound to: opening fails if any of it changed.
#[derive(Debug, Clone, Copy)]
pub struct JobBinding<'a> {
    pub job_id: &'a str,
    /// The passport's public key, the job's `pk`.
    pub public_key: &'a [u8; 32],
    /// The job's `session` ([`Tag::Session`]).
    pub session: &'a str,
}

impl JobBinding<'_> {
    /// `label ‖ len ‖ job_id ‖ pk ‖ len ‖ session`: length-prefixed, so no
    /// two bindings encode alike.
    fn aad(&self) -> Vec<u8> {
        let mut a = Vec::with_capacity(64 + self.job_id.len() + self.session.len());
        a.extend_from_slice(JOB_AAD);
        a.extend_from_slice(&(self.job_id.len() as u32).to_be_bytes());
        a.extend_from_slice(self.job_id.as_bytes());
        a.extend_from_slice(self.public_key);
        a.extend_from_slice(&(self.session.len() as u32).to_be_bytes());
        a.extend_from_slice(self.session.as_bytes());
        a
    }
}

/// What a keyed hash names; part of the hashed message, so one id never
/// names two things alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// A job's `session`: the admission's session id.
    Session,
    /// The single-use admission marker: the admission's ticket id.
    Ticket,
    /// The attempt counter of a national id.
    NationalId,
}

impl Tag {
    fn label(self) -> &'static [u8] {
        match self {
            Tag::Session => b"session",
            Tag::Ticket => b"ticket",
            Tag::NationalId => b"national-id",
        }
    }
}

/// One key of the ring: its sealing root and its naming key, both derived
/// from the configured secret (never the secret itself).
#[derive(Clone)]
struct JobKey {
    seal: [u8; 32],
    index: [u8; 32],
}

/// The origin's job keys (`JOB_SEAL_KEY`): the first seals and names, every
/// one opens and matches (see the README's rotation procedure).
#[derive(Clone)]
pub struct JobKeys {
    keys: Vec<JobKey>,
}

impl std::fmt::Debug for JobKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobKeys({} keys)", self.keys.len())
    }
}

impl JobKeys {
    /// From the decoded secrets, newest (sealing) first; `None` if empty.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Option<JobKeys> {
        let keys: Vec<JobKey> = secrets
            .iter()
            .map(|k| JobKey {
                seal: derive_key(k.as_ref(), SEAL_ROOT_INFO),
                index: derive_key(k.as_ref(), INDEX_INFO),
            })
            .collect();
        (!keys.is_empty()).then_some(JobKeys { keys })
    }

    fn job_key(seal_root: &[u8; 32], job_id: &str) -> [u8; 32] {
        derive_key(seal_root, &[JOB_INFO, job_id.as_bytes()].concat())
    }

    /// Seals a queued request with the newest key, bound to `job`.
    pub fn seal(&self, job: &JobBinding, plaintext: &[u8]) -> Vec<u8> {
        let key = Self::job_key(&self.keys[0].seal, job.job_id);
        let nonce = random_bytes::<NONCE_LEN>();
        let ct = aead(&key)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &job.aad(),
                },
            )
            .expect("ChaCha20-Poly1305 encrypts any length we produce");
        [nonce.as_slice(), &ct].concat()
    }

    /// Opens what [`JobKeys::seal`] sealed for `job`, with whichever key of
    /// the ring sealed it; `None` if none does or anything of `job` changed.
    pub fn open(&self, job: &JobBinding, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let aad = job.aad();
        self.keys.iter().find_map(|k| {
            aead(&Self::job_key(&k.seal, job.job_id))
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
                .ok()
        })
    }

    fn tag_with(index: &[u8; 32], kind: Tag, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(index)
            .expect("HMAC takes any key length");
        mac.update(kind.label());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The keyed hash naming `value` in Redis, under the newest key.
    pub fn tag(&self, kind: Tag, value: &str) -> String {
        Self::tag_with(&self.keys[0].index, kind, value)
    }

    /// Every name `value` may have in Redis: under each key, newest first.
    pub fn tags(&self, kind: Tag, value: &str) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| Self::tag_with(&k.index, kind, value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn derive_key_is_rfc_5869_hkdf_sha256() {
        // RFC 5869 test case 3 (empty salt, empty info): the first 32 of its 42 bytes.
        assert_eq!(
            hex(&derive_key(&[0x0b; 22], b"")),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        );
        // A job key as the hand-written HKDF derived it before the hkdf crate
        // (computed independently): sealed jobs still open.
        assert_eq!(
            hex(&derive_key(&[7; 32], &[JOB_INFO, b"job-a"].concat())),
            "1b409fcfc622b880889d754f9b9856070fe914b2e79a771ce37cdd015225cccd"
        );
    }

    #[test]
    fn pdf_round_trip_and_wrong_key() {
        let (secret, public) = new_passport_key();
        let sealed = seal_to(&public, b"%PDF-1.4 hello");
        assert_eq!(open_with(&secret, &sealed).unwrap(), b"%PDF-1.4 hello");
        let (other, _) = new_passport_key();
        assert!(open_with(&other, &sealed).is_none());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open_with(&secret, &tampered).is_none());
    }

    fn binding<'a>(id: &'a str, pk: &'a [u8; 32], session: &'a str) -> JobBinding<'a> {
        JobBinding {
            job_id: id,
            public_key: pk,
            session,
        }
    }

    #[test]
    fn a_sealed_job_is_bound_to_its_id_key_and_session() {
        let keys = JobKeys::new(&[[7u8; 32]]).unwrap();
        let (pk, other_pk) = ([1u8; 32], [2u8; 32]);
        let sealed = keys.seal(&binding("job-a", &pk, "s-a"), b"secret data");
        assert_eq!(
            keys.open(&binding("job-a", &pk, "s-a"), &sealed).unwrap(),
            b"secret data"
        );
        for (what, b) in [
            ("other id", binding("job-b", &pk, "s-a")),
            ("other pk", binding("job-a", &other_pk, "s-a")),
            ("other session", binding("job-a", &pk, "s-b")),
        ] {
            assert!(keys.open(&b, &sealed).is_none(), "{what} opens");
        }
        let other = JobKeys::new(&[[8u8; 32]]).unwrap();
        assert!(other.open(&binding("job-a", &pk, "s-a"), &sealed).is_none());
        // Length prefixes: a byte moved from the id into the session differs.
        let a = binding("job-", &pk, "as").aad();
        assert_ne!(a, binding("job-a", &pk, "s").aad());
    }

    #[test]
    fn any_key_of_the_ring_opens_the_first_seals_and_names() {
        let (old, new) = ([7u8; 32], [9u8; 32]);
        let b = binding("job-a", &[1u8; 32], "s");
        let by_old = JobKeys::new(&[old]).unwrap().seal(&b, b"x");
        let ring = JobKeys::new(&[new, old]).unwrap();
        assert_eq!(ring.open(&b, &by_old).unwrap(), b"x");
        let by_ring = ring.seal(&b, b"y");
        assert!(JobKeys::new(&[old]).unwrap().open(&b, &by_ring).is_none());
        assert_eq!(
            JobKeys::new(&[new]).unwrap().open(&b, &by_ring).unwrap(),
            b"y"
        );

        let tags = ring.tags(Tag::Ticket, "t1");
        assert_eq!(tags[0], ring.tag(Tag::Ticket, "t1"));
        assert_eq!(
            tags[1],
            JobKeys::new(&[old]).unwrap().tag(Tag::Ticket, "t1")
        );
        assert_ne!(tags[0], tags[1]);
    }

    #[test]
    fn tags_are_keyed_and_separate_kinds() {
        let keys = JobKeys::new(&[[7u8; 32]]).unwrap();
        let t = keys.tag(Tag::Session, "abc");
        assert_eq!(t.len(), 43, "base64url of 32 bytes: {t}");
        assert_ne!(t, keys.tag(Tag::Ticket, "abc"));
        assert_ne!(t, keys.tag(Tag::Session, "abd"));
        assert_ne!(
            t,
            JobKeys::new(&[[8u8; 32]]).unwrap().tag(Tag::Session, "abc")
        );
        // HMAC-SHA256(HKDF(k, names label), "session" ‖ 0 ‖ "abc"), computed
        // independently: a change of derivation would orphan every name.
        assert_eq!(t, "Qv1mwiOuUApZAPfMuXPZBK0OTNLeYvkXPcsNrGysPF8");
    }
}
