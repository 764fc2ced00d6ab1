//! [`Pace`]: the least rate a request body must arrive at
//! ([`ServerConfig::min_body_rate`](crate::ServerConfig::min_body_rate)).

use std::time::{Duration, Instant};

use crate::config::ServerConfig;
use crate::error::Error;
use crate::io::Deadline;

/// The least rate a request body must arrive at, as the rule of Apache's
/// `mod_reqtimeout` (`body=20,MinRate=500`) puts it: the server waits for
/// the body up to `grace`, plus one second for every `bytes_per_second`
/// bytes received. Only the time the server spends waiting for body bytes
/// counts: all of it for a body read before the handler runs, and for a
/// streaming handler's body the waits while its reader asks for a chunk or
/// the server drops the rest the handler left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pace {
    /// 0: no least rate.
    bytes_per_second: u64,
    grace: Duration,
}

impl Pace {
    /// `bytes_per_second` (0: none) after `grace`.
    pub(crate) fn new(bytes_per_second: u64, grace: Duration) -> Pace {
        Pace {
            bytes_per_second,
            grace,
        }
    }

    /// The pace `config` sets.
    pub(crate) fn of(config: &ServerConfig) -> Pace {
        Pace::new(config.min_body_rate, config.body_grace)
    }

    /// How long the next wait for the client's bytes may last, and whether
    /// it is this pace, rather than `idle` (the read timeout), that bounds
    /// it: `received` bytes are in after `waited` of waiting.
    pub(crate) fn next_wait(
        self,
        idle: Duration,
        received: u64,
        waited: Duration,
    ) -> (Duration, bool) {
        if self.bytes_per_second == 0 {
            return (idle, false);
        }
        let earned = u128::from(received) * 1_000_000_000 / u128::from(self.bytes_per_second);
        let earned = Duration::from_nanos(u64::try_from(earned).unwrap_or(u64::MAX));
        let left = self.grace.saturating_add(earned).saturating_sub(waited);
        if left < idle {
            (left, true)
        } else {
            (idle, false)
        }
    }

    /// The error of a client that fell below this pace.
    pub(crate) fn error(self) -> Error {
        Error::BodyTooSlow {
            bytes_per_second: self.bytes_per_second,
        }
    }
}

/// The clock of a body the connection reads by itself, start to end, before
/// the handler runs: every moment from its start counts as waiting for the
/// client.
#[derive(Debug)]
pub(crate) struct ReadClock {
    pace: Pace,
    idle: Duration,
    /// When the body's reading started; `None` when there is no pace to
    /// keep, which spares a clock read per read.
    since: Option<Instant>,
}

impl ReadClock {
    /// Starts the clock of a body read under `config`'s read timeout and
    /// pace.
    pub(crate) fn start(config: &ServerConfig) -> ReadClock {
        let pace = Pace::of(config);
        ReadClock {
            pace,
            idle: config.read_timeout,
            since: (pace.bytes_per_second > 0).then(Instant::now),
        }
    }

    /// The deadline of the next read, `received` bytes in, and whether it is
    /// the pace's (a read that times out then means [`error`](Self::error)).
    pub(crate) fn next_read(&self, received: u64) -> (Deadline, bool) {
        let (wait, paced) = match self.since {
            Some(since) => self.pace.next_wait(self.idle, received, since.elapsed()),
            None => (self.idle, false),
        };
        (Deadline::After(wait), paced)
    }

    /// The error of a client that fell below the pace.
    pub(crate) fn error(&self) -> Error {
        self.pace.error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(bytes_per_second: u64, grace_ms: u64) -> Pace {
        let mut config = ServerConfig::new();
        config.min_body_rate(bytes_per_second, Duration::from_millis(grace_ms));
        Pace::of(&config)
    }

    const IDLE: Duration = Duration::from_secs(30);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_grace_then_a_second_per_rate_bytes() {
        let p = pace(1000, 2000);
        // Nothing in yet: the grace, less what was waited.
        assert_eq!(p.next_wait(IDLE, 0, ms(0)), (ms(2000), true));
        assert_eq!(p.next_wait(IDLE, 0, ms(1500)), (ms(500), true));
        // 500 bytes earn half a second.
        assert_eq!(p.next_wait(IDLE, 500, ms(1500)), (ms(1000), true));
        // Used up: the next wait ends at once.
        assert_eq!(p.next_wait(IDLE, 500, ms(9000)), (ms(0), true));
        // Far ahead of the pace, the read timeout bounds the wait.
        assert_eq!(p.next_wait(IDLE, 1 << 30, ms(9000)), (IDLE, false));
        // No overflow for the largest counts.
        assert_eq!(p.next_wait(IDLE, u64::MAX, ms(9000)), (IDLE, false));
        assert_eq!(p.next_wait(IDLE, u64::MAX, Duration::MAX), (ms(0), true));
        assert_eq!(pace(1, 0).next_wait(IDLE, u64::MAX, ms(0)), (IDLE, false));
    }

    #[test]
    fn a_rate_of_zero_is_off() {
        let p = pace(0, 0);
        assert_eq!(p.next_wait(IDLE, 0, Duration::MAX), (IDLE, false));
        let mut config = ServerConfig::new();
        config.min_body_rate(0, ms(0)).read_timeout(IDLE);
        let clock = ReadClock::start(&config);
        assert!(clock.since.is_none(), "no clock read without a pace");
        assert!(matches!(clock.next_read(0), (Deadline::After(IDLE), false)));
        config.min_body_rate(1000, ms(2000));
        let clock = ReadClock::start(&config);
        assert!(matches!(clock.next_read(0), (Deadline::After(d), true) if d <= ms(2000)));
    }

    #[test]
    fn the_default_is_apache_s() {
        let p = Pace::of(&ServerConfig::new());
        assert_eq!(p.error().to_string(), "request body arrived slower than 500 bytes/s; lower or turn off ServerConfig::min_body_rate (or the handler's RequestBody::set_min_rate)");
        assert_eq!(p.error().status(), 408);
    }
}
