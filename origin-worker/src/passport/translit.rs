//! ICAO Doc 9303 (Part 3, §6) transliteration, as the DCC's `fnt` and `gnt`
//! fields require: upper-case `A`–`Z` and `<` only, at most 80 characters.
//!
//! The tables cover the letters ICAO lists explicitly (Latin letters with
//! their recommended multi-letter forms such as `Ä → AE`, Cyrillic, Greek);
//! any other accented Latin letter loses its diacritics through Unicode
//! canonical decomposition (`ễ → E`). Spaces, hyphens and commas become the
//! filler `<`; apostrophes and anything else unmappable are dropped.

use unicode_normalization::UnicodeNormalization;

/// Longest `fnt`/`gnt` the DCC schema allows.
pub const MAX_LEN: usize = 80;

/// Transliterates a name for the machine-readable `fnt`/`gnt` fields.
pub fn icao9303(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars().flat_map(char::to_uppercase) {
        if let Some(mapped) = special(c) {
            out.push_str(mapped);
        } else if c.is_ascii_uppercase() {
            out.push(c);
        } else if matches!(c, ' ' | '-' | ',' | '\u{2010}' | '\u{2011}') {
            // Collapse runs of separators into one filler.
            if !out.is_empty() && !out.ends_with('<') {
                out.push('<');
            }
        } else {
            // A letter with diacritics: keep the (transliterated) base letter.
            for base in std::iter::once(c).nfd() {
                if let Some(mapped) = special(base) {
                    out.push_str(mapped);
                } else if base.is_ascii_uppercase() {
                    out.push(base);
                }
            }
        }
    }
    while out.ends_with('<') {
        out.pop();
    }
    out.truncate(MAX_LEN);
    out
}

/// ICAO 9303 Part 3 letters that do not reduce to their base letter.
fn special(c: char) -> Option<&'static str> {
    Some(match c {
        // Latin (the recommended, not the optional, forms)
        'Ä' => "AE",
        'Å' => "AA",
        'Æ' => "AE",
        'Ö' => "OE",
        'Ø' => "OE",
        'Ü' => "UE",
        'Œ' => "OE",
        'Ĳ' => "IJ",
        'ẞ' | 'ß' => "SS",
        'Þ' => "TH",
        'Ð' | 'Đ' => "D",
        'Ħ' => "H",
        'Ł' | 'Ŀ' => "L",
        'İ' | 'ı' => "I",
        'Ŋ' => "N",
        'Ŧ' => "T",
        // Cyrillic
        'А' => "A",
        'Б' => "B",
        'В' => "V",
        'Г' => "G",
        'Ґ' => "G",
        'Ѓ' => "G",
        'Д' => "D",
        'Ђ' => "D",
        'Е' | 'Ё' | 'Э' => "E",
        'Є' => "IE",
        'Ж' => "ZH",
        'З' => "Z",
        'Ѕ' | 'Џ' => "DZ",
        'И' | 'Й' | 'І' | 'Ї' => "I",
        'Ј' => "J",
        'К' | 'Ќ' => "K",
        'Л' => "L",
        'Љ' => "LJ",
        'М' => "M",
        'Н' => "N",
        'Њ' => "NJ",
        'О' => "O",
        'П' => "P",
        'Р' => "R",
        'С' => "S",
        'Т' => "T",
        'Ћ' => "C",
        'У' | 'Ў' => "U",
        'Ф' => "F",
        'Х' => "KH",
        'Ц' => "TS",
        'Ч' => "CH",
        'Ш' => "SH",
        'Щ' => "SHCH",
        'Ъ' => "IE",
        'Ы' => "Y",
        'Ь' => "",
        'Ю' => "IU",
        'Я' => "IA",
        // Greek (the accented capitals are listed for speed; any other
        // accent is removed by decomposition)
        'Α' | 'Ά' => "A",
        'Β' => "V",
        'Γ' => "G",
        'Δ' => "D",
        'Ε' | 'Έ' => "E",
        'Ζ' => "Z",
        'Η' | 'Ή' => "I",
        'Θ' => "TH",
        'Ι' | 'Ί' | 'Ϊ' => "I",
        'Κ' => "K",
        'Λ' => "L",
        'Μ' => "M",
        'Ν' => "N",
        'Ξ' => "X",
        'Ο' | 'Ό' => "O",
        'Π' => "P",
        'Ρ' => "R",
        'Σ' => "S",
        'Τ' => "T",
        'Υ' | 'Ύ' | 'Ϋ' => "Y",
        'Φ' => "F",
        'Χ' => "CH",
        'Ψ' => "PS",
        'Ω' | 'Ώ' => "O",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::icao9303;

    #[test]
    fn names_of_the_acceptance_list() {
        assert_eq!(icao9303("Łukasz"), "LUKASZ");
        assert_eq!(icao9303("Żółć"), "ZOLC");
        assert_eq!(icao9303("José"), "JOSE");
        assert_eq!(icao9303("Núñez"), "NUNEZ");
        assert_eq!(icao9303("Nguyễn"), "NGUYEN");
        assert_eq!(icao9303("Thị Minh"), "THI<MINH");
        assert_eq!(icao9303("Σωκράτης"), "SOKRATIS");
        assert_eq!(icao9303("Дмитрий"), "DMITRII");
    }

    #[test]
    fn icao_multi_letter_forms_and_fillers() {
        assert_eq!(icao9303("Müller-Lüdenscheidt"), "MUELLER<LUEDENSCHEIDT");
        assert_eq!(icao9303("Strauß"), "STRAUSS");
        assert_eq!(icao9303("Ørsted Åberg"), "OERSTED<AABERG");
        assert_eq!(icao9303("O'Neill"), "ONEILL");
        assert_eq!(icao9303("  van  der Berg "), "VAN<DER<BERG");
        assert_eq!(icao9303("Щукин"), "SHCHUKIN");
    }

    #[test]
    fn output_alphabet_and_length() {
        let long = "Ab".repeat(100);
        let t = icao9303(&long);
        assert_eq!(t.len(), 80);
        for s in ["李小龍", "X Æ A-12", "Ωmega 💉"] {
            let t = icao9303(s);
            assert!(t.chars().all(|c| c.is_ascii_uppercase() || c == '<'), "{t}");
        }
    }
}
