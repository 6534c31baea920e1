//! The passport request body: the rules live in `waitroom_core::passport_request`
//! (pure, fuzzed); this module only names them for the origin.

pub use waitroom_core::passport_request::*;
