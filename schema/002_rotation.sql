-- SPDX-License-Identifier: MIT
-- 002_rotation: key rotation with an overlap (docs/design.md D21). Per side,
-- the time (ms since the epoch) until which the side's current key is still
-- accepted beside its next key; 0 when there is no deadline (no next key, or
-- a next key set without one). When the deadline passes, or the side's agent
-- authenticates with its next key, the relay promotes the next key to current.
ALTER TABLE links ADD COLUMN a_next_until_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE links ADD COLUMN b_next_until_ms INTEGER NOT NULL DEFAULT 0;
-- Per side, the endorsement the side's agent sent when it switched keys
-- (protocol §5.1): new key[32] ‖ old key[32] ‖ mac[32], NULL when none. The
-- relay passes it on in PEER_KEY; it cannot make one (only the old key's
-- holder can), so a row edited here is refused by the peer.
ALTER TABLE links ADD COLUMN a_endorse BLOB;
ALTER TABLE links ADD COLUMN b_endorse BLOB;
