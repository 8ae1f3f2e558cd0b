//! What keeps one misbehaving client from costing everyone else: bounded connections
//! (`connections`: header, idle and stalled-response timeouts and a cap on open
//! connections), response headers that keep browsers strict (`headers`), and bounded
//! uploads (`uploads`: a memory budget shared by all uploads, a storage quota per user).
//! Image content itself is judged in `domain::image`.

pub mod connections;
pub mod headers;
pub mod uploads;
