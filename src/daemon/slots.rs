//! Who may hold how many of a socket's connections, decided at accept
//! from the peer's kernel identity (SO_PEERCRED), before a byte is read.
//!
//! Every socket has `max_connections` shared slots. The control socket
//! adds two rules: root has `max_connections` slots of its own, which no
//! other peer can take (root's CLI and cPanel's hook scripts, which run as
//! root, always get in), and no other uid may hold more than
//! `max_connections_per_uid` at once, so one local user or reseller cannot
//! fill the socket. Peers that may do nothing there (see
//! `authz::may_act`; known only once they are identified, just after
//! accept) also share a small pool of their own, an eighth of
//! `max_connections`: past it they are turned away at once, so many such
//! uids together cannot hold the slots resellers need either. The verify
//! socket is reachable only by its group
//! (trusted services, a web server often being one uid) and keeps the
//! shared limit alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::accounts::Uid;
use crate::authz::Peer;

#[derive(Debug)]
pub(crate) struct Slots {
    shared: Arc<Semaphore>,
    root: Option<Arc<Semaphore>>,
    per_uid: Option<PerUid>,
    /// Held, besides a shared slot, by a peer that may do nothing.
    one_request: Option<Arc<Semaphore>>,
}

#[derive(Debug)]
struct PerUid {
    limit: usize,
    held: Mutex<HashMap<Uid, usize>>,
}

/// Why a connection was refused at accept.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// Every slot this peer may use is taken.
    Full,
    /// This uid holds its per-uid limit already.
    PerUid(usize),
}

/// A held slot; dropping it frees the slot (and the uid's count).
#[derive(Debug)]
pub(crate) struct Ticket {
    _permit: OwnedSemaphorePermit,
    counted: Option<(Arc<Slots>, Uid)>,
    one_request: Option<OwnedSemaphorePermit>,
    slots: Arc<Slots>,
}

impl Ticket {
    /// The peer turned out to be one that may do nothing: it also needs
    /// one of their few slots (the socket has such a pool).
    pub(crate) fn for_one_request(mut self) -> Result<Ticket, Busy> {
        if let Some(pool) = &self.slots.one_request {
            let permit = Arc::clone(pool)
                .try_acquire_owned()
                .map_err(|_| Busy::Full)?;
            self.one_request = Some(permit);
        }
        Ok(self)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some((slots, uid)) = self.counted.take()
            && let Some(per_uid) = &slots.per_uid
        {
            let mut held = per_uid.held.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = held.get_mut(&uid) {
                *n -= 1;
                if *n == 0 {
                    held.remove(&uid);
                }
            }
        }
    }
}

impl Slots {
    /// `max` slots shared by every peer (the verify socket).
    pub(crate) fn shared(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            shared: Arc::new(Semaphore::new(max)),
            root: None,
            per_uid: None,
            one_request: None,
        })
    }

    /// The control socket's rules (see the module header).
    pub(crate) fn control(max: usize, per_uid: usize) -> Arc<Slots> {
        Arc::new(Slots {
            shared: Arc::new(Semaphore::new(max)),
            root: Some(Arc::new(Semaphore::new(max))),
            per_uid: Some(PerUid {
                limit: per_uid,
                held: Mutex::new(HashMap::new()),
            }),
            one_request: Some(Arc::new(Semaphore::new((max / 8).max(1)))),
        })
    }

    /// A slot for `peer`, or why not.
    pub(crate) fn admit(self: &Arc<Self>, peer: &Peer) -> Result<Ticket, Busy> {
        if let Some(root) = &self.root
            && peer.uid == Uid::ROOT
        {
            let permit = Arc::clone(root)
                .try_acquire_owned()
                .map_err(|_| Busy::Full)?;
            return Ok(self.ticket(permit, None));
        }
        let Some(per_uid) = &self.per_uid else {
            let permit = Arc::clone(&self.shared)
                .try_acquire_owned()
                .map_err(|_| Busy::Full)?;
            return Ok(self.ticket(permit, None));
        };
        let mut held = per_uid.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.get(&peer.uid).is_some_and(|&n| n >= per_uid.limit) {
            return Err(Busy::PerUid(per_uid.limit));
        }
        let permit = Arc::clone(&self.shared)
            .try_acquire_owned()
            .map_err(|_| Busy::Full)?;
        *held.entry(peer.uid).or_insert(0) += 1;
        Ok(self.ticket(permit, Some(peer.uid)))
    }

    fn ticket(self: &Arc<Self>, permit: OwnedSemaphorePermit, uid: Option<Uid>) -> Ticket {
        Ticket {
            _permit: permit,
            counted: uid.map(|u| (Arc::clone(self), u)),
            one_request: None,
            slots: Arc::clone(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32) -> Peer {
        Peer {
            uid: Uid(uid),
            pid: None,
        }
    }

    #[test]
    fn root_keeps_its_own_slots_and_uids_their_share() {
        let slots = Slots::control(4, 2);
        let a1 = slots.admit(&peer(1001)).unwrap();
        let _a2 = slots.admit(&peer(1001)).unwrap();
        assert_eq!(slots.admit(&peer(1001)).unwrap_err(), Busy::PerUid(2));
        let _b1 = slots.admit(&peer(1002)).unwrap();
        let _b2 = slots.admit(&peer(1002)).unwrap();
        assert_eq!(slots.admit(&peer(1003)).unwrap_err(), Busy::Full);
        // Every shared slot is taken; root still gets in, up to its own.
        let roots: Vec<Ticket> = (0..4).map(|_| slots.admit(&peer(0)).unwrap()).collect();
        assert_eq!(slots.admit(&peer(0)).unwrap_err(), Busy::Full);
        drop(roots);
        // A slot freed is a slot (and a count) back.
        drop(a1);
        let _a3 = slots.admit(&peer(1001)).unwrap();
        assert_eq!(slots.admit(&peer(1001)).unwrap_err(), Busy::PerUid(2));
    }

    #[test]
    fn a_refused_peer_does_not_keep_a_count() {
        let slots = Slots::control(1, 5);
        let _a = slots.admit(&peer(1001)).unwrap();
        for _ in 0..10 {
            assert_eq!(slots.admit(&peer(1002)).unwrap_err(), Busy::Full);
        }
        let held = slots.per_uid.as_ref().unwrap().held.lock().unwrap();
        assert_eq!(held.get(&Uid(1002)), None);
    }

    #[test]
    fn peers_that_may_do_nothing_share_an_eighth() {
        let slots = Slots::control(16, 16);
        let held: Vec<Ticket> = (0..2)
            .map(|_| slots.admit(&peer(1001)).unwrap().for_one_request().unwrap())
            .collect();
        assert_eq!(
            slots
                .admit(&peer(1002))
                .unwrap()
                .for_one_request()
                .unwrap_err(),
            Busy::Full
        );
        // The shared slot of the one turned away is free again.
        let others: Vec<Ticket> = (0..14).map(|_| slots.admit(&peer(1003)).unwrap()).collect();
        assert_eq!(others.len(), 14);
        drop(held);
    }

    #[test]
    fn the_verify_socket_shares_one_limit() {
        let slots = Slots::shared(2);
        let _r = slots.admit(&peer(0)).unwrap();
        let _a = slots.admit(&peer(33)).unwrap();
        assert_eq!(slots.admit(&peer(0)).unwrap_err(), Busy::Full);
    }
}
