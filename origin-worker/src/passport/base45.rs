//! Base45 (RFC 9285): the QR-friendly text encoding the EU DCC puts after
//! `HC1:`. Its 45 characters are exactly QR alphanumeric mode, so a QR code
//! stores them at 5.5 bits each instead of 8.
//!
//! Two bytes become three characters (`n = a*256 + b = c + d*45 + e*45²`), a
//! trailing odd byte becomes two. Decoding rejects characters outside the
//! alphabet and triplets whose value exceeds 65535 (RFC 9285 §4.3).

use std::fmt;

const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Why a string is not valid Base45.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base45Error {
    /// A character outside the 45-character alphabet, at this byte offset.
    InvalidCharacter(usize),
    /// A length of the form 3n+1, which no encoding produces.
    InvalidLength,
    /// A chunk decoding to a value that does not fit its byte count.
    Overflow(usize),
}

impl fmt::Display for Base45Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCharacter(at) => write!(f, "invalid base45 character at offset {at}"),
            Self::InvalidLength => f.write_str("invalid base45 length"),
            Self::Overflow(at) => write!(f, "base45 chunk at offset {at} out of range"),
        }
    }
}

impl std::error::Error for Base45Error {}

/// Encodes bytes as Base45.
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(2) * 3);
    let mut chunks = input.chunks_exact(2);
    for pair in &mut chunks {
        let mut n = u32::from(pair[0]) * 256 + u32::from(pair[1]);
        for _ in 0..3 {
            out.push(char::from(ALPHABET[(n % 45) as usize]));
            n /= 45;
        }
    }
    if let [last] = chunks.remainder() {
        let n = u32::from(*last);
        out.push(char::from(ALPHABET[(n % 45) as usize]));
        out.push(char::from(ALPHABET[(n / 45) as usize]));
    }
    out
}

fn value_of(c: u8, at: usize) -> Result<u32, Base45Error> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .map(|v| v as u32)
        .ok_or(Base45Error::InvalidCharacter(at))
}

/// Decodes Base45 text.
pub fn decode(input: &str) -> Result<Vec<u8>, Base45Error> {
    let bytes = input.as_bytes();
    if bytes.len() % 3 == 1 {
        return Err(Base45Error::InvalidLength);
    }
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        let at = i * 3;
        let mut n = 0u32;
        for (j, &c) in chunk.iter().enumerate().rev() {
            n = n * 45 + value_of(c, at + j)?;
        }
        if chunk.len() == 3 {
            if n > 0xFFFF {
                return Err(Base45Error::Overflow(at));
            }
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            if n > 0xFF {
                return Err(Base45Error::Overflow(at));
            }
            out.push(n as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of RFC 9285 §4.3 and §4.4.
    const RFC_VECTORS: &[(&[u8], &str)] = &[
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"", ""),
    ];

    #[test]
    fn rfc_9285_vectors_encode() {
        for (raw, text) in RFC_VECTORS {
            assert_eq!(encode(raw), *text, "encode {raw:?}");
        }
    }

    #[test]
    fn rfc_9285_vectors_decode() {
        for (raw, text) in RFC_VECTORS {
            assert_eq!(decode(text).unwrap(), *raw, "decode {text:?}");
        }
    }

    #[test]
    fn round_trips_every_byte_pair_boundary() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            assert_eq!(decode(&encode(&data[..len])).unwrap(), &data[..len]);
        }
        assert_eq!(encode(&[0xFF, 0xFF]), "FGW");
        assert_eq!(decode("FGW").unwrap(), [0xFF, 0xFF]);
    }

    #[test]
    fn rejects_bad_input() {
        // RFC 9285 §4.3: "GGW" is 65536 + ..., larger than two bytes.
        assert_eq!(decode("GGW"), Err(Base45Error::Overflow(0)));
        assert_eq!(decode("A"), Err(Base45Error::InvalidLength));
        assert_eq!(decode("AB8a"), Err(Base45Error::InvalidLength));
        assert_eq!(decode("aBC"), Err(Base45Error::InvalidCharacter(0)));
        assert_eq!(decode("BB8~A"), Err(Base45Error::InvalidCharacter(3)));
        // two trailing characters must fit one byte
        assert_eq!(decode(":Z"), Err(Base45Error::Overflow(0)));
    }
}
