//! The golden ticket vectors (tests/vectors/tickets.json), checked with the
//! ticket code exactly as the origin links it. The same file is checked by
//! core's own tests and by the edge inside workerd (tests/tests/edge.rs).

#[test]
fn the_origin_agrees_with_the_golden_ticket_vectors() {
    let vectors = include_str!("../../tests/vectors/tickets.json");
    match waitroom_core::ticket::vectors::check(vectors) {
        Ok(passed) => assert!(passed >= 30, "only {passed} cases"),
        Err(failures) => panic!("vectors failed:\n{}", failures.join("\n")),
    }
}
