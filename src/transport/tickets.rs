//! The listener's side of TLS session tickets: rustls asks the service's current key ring to seal and open them
//! (the sealing itself is `crypto::tickets`).

use crate::crypto::tickets::LIFETIME;

/// The listener's ticketer: the service's current key ring (rotations apply at once).
pub struct Tickets(pub crate::state::AppState);

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tickets")
    }
}

impl rustls::server::ProducesTickets for Tickets {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        LIFETIME
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.0.tokens.seal_ticket(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.0.tokens.open_ticket(cipher)
    }
}
