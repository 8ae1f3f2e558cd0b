//! How often a client may try to log in or sign up, and how many wrong passwords an
//! account takes, before the service answers 429 with `Retry-After`.
//!
//! Each limit is a token bucket: `burst` attempts at once, then one more every
//! `every`. A bucket is stored as the one instant at which it will be full again (the
//! generic cell rate algorithm), so a key costs one `Instant`, and a key whose instant
//! has passed holds nothing worth keeping: those are the first evicted when a table is
//! full. A table holds at most [`MAX_KEYS`] keys, so a flood of new addresses or
//! usernames costs bounded memory.
//!
//! The counters are per instance, in memory, not shared through Redis. Behind the load
//! balancer, with `n` instances, a client whose requests are spread over all of them
//! gets at most `n` times each budget: for a handful of instances still a few dozen
//! guesses a minute from one address, and at most a few hundred a day against one
//! account — nothing against a password outside the common list that sign-up refuses.
//! In exchange, a login needs no Redis round trip, keeps working while Redis is slow
//! or gone, and the hashing these limits protect is per instance anyway.
//!
//! Wrong passwords are counted twice: per account and address, tightly, so the
//! account's owner elsewhere can still log in while one address guesses; and per
//! account alone, loosely, so guesses spread over many addresses stop too. Only the
//! loose limit lets an attacker with many addresses keep the owner out, and only for
//! as long as the guessing goes on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys one table keeps at most.
pub const MAX_KEYS: usize = 20_000;

/// A token bucket: `burst` at once, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub burst: u32,
    pub every: Duration,
}

/// The limits the service enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Every login attempt of a client address: 20 at once, then 10 a minute. Bounds the
    /// password hashing one address can ask for, and how many accounts it can try.
    LoginPerClient,
    /// Wrong passwords for one account from one address: 5, then one every 3 minutes
    /// (5 per 15 minutes).
    LoginFailuresPerAccountAndClient,
    /// Wrong passwords for one account from anywhere: 50, then 2 a minute.
    LoginFailuresPerAccount,
    /// Sign-up attempts of a client address: 500 at once, then 30 a minute. Generous on
    /// purpose: a load run signs up one account per virtual user from one machine
    /// (`modu load -c 128`, and `scripts/app-bench.sh` twice that in a couple of
    /// minutes), which a flood cannot be told apart from.
    SignupPerClient,
}

impl Limit {
    pub const ALL: [Limit; 4] = [
        Limit::LoginPerClient,
        Limit::LoginFailuresPerAccountAndClient,
        Limit::LoginFailuresPerAccount,
        Limit::SignupPerClient,
    ];

    pub fn rule(self) -> Rule {
        let (burst, every) = match self {
            Limit::LoginPerClient => (20, 6),
            Limit::LoginFailuresPerAccountAndClient => (5, 180),
            Limit::LoginFailuresPerAccount => (50, 30),
            Limit::SignupPerClient => (500, 2),
        };
        Rule {
            burst,
            every: Duration::from_secs(every),
        }
    }

    /// For the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Limit::LoginPerClient => "login attempts per address",
            Limit::LoginFailuresPerAccountAndClient => "wrong passwords per account and address",
            Limit::LoginFailuresPerAccount => "wrong passwords per account",
            Limit::SignupPerClient => "sign-ups per address",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One table per limit, so that a flood of keys under one limit (new addresses) never
/// evicts the counters of another (an account under attack).
pub struct Limiter {
    tables: [Mutex<Table>; Limit::ALL.len()],
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            tables: Limit::ALL.map(|limit| Mutex::new(Table::new(limit.rule(), MAX_KEYS))),
        }
    }
}

/// Why `take_all` refused: which limit, and how long until it allows one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: Limit,
    pub wait: Duration,
}

impl Limiter {
    /// Takes one token from each `(limit, key)`, or none: at the first limit that has
    /// none left, the tokens already taken are given back.
    pub fn take_all(&self, wanted: &[(Limit, &str)], now: Instant) -> Result<(), Exceeded> {
        for (i, (limit, key)) in wanted.iter().enumerate() {
            if let Err(wait) = self.table(*limit).take(key, now) {
                for (limit, key) in &wanted[..i] {
                    self.give_back(*limit, key);
                }
                return Err(Exceeded {
                    limit: *limit,
                    wait,
                });
            }
        }
        Ok(())
    }

    /// Returns a token taken before: a login that succeeds was not a wrong password.
    pub fn give_back(&self, limit: Limit, key: &str) {
        self.table(limit).give_back(key);
    }

    fn table(&self, limit: Limit) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave a table inconsistent (every update
        // is one assignment), so a poisoned lock is still usable.
        self.tables[limit.index()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// The buckets of one limit: for each key, when it will be full again.
struct Table {
    rule: Rule,
    max_keys: usize,
    full_at: HashMap<String, Instant>,
}

impl Table {
    fn new(rule: Rule, max_keys: usize) -> Self {
        Table {
            rule,
            max_keys,
            full_at: HashMap::new(),
        }
    }

    /// Takes a token, or says how long until there is one.
    fn take(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        let window = self.rule.every * self.rule.burst;
        let full_at = self.full_at.get(key).copied().unwrap_or(now).max(now);
        let after = full_at + self.rule.every;
        if after > now + window {
            return Err(after - (now + window));
        }
        if !self.full_at.contains_key(key) && self.full_at.len() >= self.max_keys {
            self.evict(now);
        }
        self.full_at.insert(key.to_owned(), after);
        Ok(())
    }

    fn give_back(&mut self, key: &str) {
        if let Some(full_at) = self.full_at.get_mut(key) {
            *full_at = full_at.checked_sub(self.rule.every).unwrap_or(*full_at);
        }
    }

    /// Drops the buckets that are full again (they hold nothing); if that is not a
    /// quarter of the table, also those nearest to full, which lose the least.
    fn evict(&mut self, now: Instant) {
        self.full_at.retain(|_, full_at| *full_at > now);
        let target = self.max_keys - self.max_keys / 4;
        if self.full_at.len() > target {
            let mut instants: Vec<Instant> = self.full_at.values().copied().collect();
            let excess = self.full_at.len() - target;
            let (_, cutoff, _) = instants.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            self.full_at.retain(|_, full_at| *full_at > cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(burst: u32, every_secs: u64, max_keys: usize) -> Table {
        Table::new(
            Rule {
                burst,
                every: Duration::from_secs(every_secs),
            },
            max_keys,
        )
    }

    #[test]
    fn each_limit_has_its_own_table_with_its_rule() {
        for (i, limit) in Limit::ALL.into_iter().enumerate() {
            assert_eq!(limit.index(), i, "{limit:?}");
        }
        let limiter = Limiter::default();
        for limit in Limit::ALL {
            assert_eq!(limiter.table(limit).rule, limit.rule(), "{limit:?}");
        }
    }

    #[test]
    fn a_burst_then_one_token_per_period() {
        let t0 = Instant::now();
        let mut t = table(3, 10, 100);
        for _ in 0..3 {
            assert_eq!(t.take("a", t0), Ok(()));
        }
        assert_eq!(t.take("a", t0), Err(Duration::from_secs(10)));
        assert_eq!(
            t.take("a", t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(t.take("a", t0 + Duration::from_secs(10)), Ok(()));
        assert!(t.take("a", t0 + Duration::from_secs(10)).is_err());
        // Other keys have their own bucket.
        assert_eq!(t.take("b", t0), Ok(()));
        // After burst × period of quiet, the whole burst again.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(t.take("a", later), Ok(()));
        }
        assert!(t.take("a", later).is_err());
    }

    #[test]
    fn a_token_given_back_can_be_taken_again() {
        let t0 = Instant::now();
        let mut t = table(2, 60, 100);
        for _ in 0..10 {
            t.take("kim", t0).unwrap();
            t.give_back("kim");
        }
        t.take("kim", t0).unwrap();
        t.take("kim", t0).unwrap();
        assert!(t.take("kim", t0).is_err());
    }

    #[test]
    fn take_all_takes_nothing_when_one_limit_refuses() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        let wanted = [
            (Limit::LoginFailuresPerAccount, "kim"),
            (Limit::LoginFailuresPerAccountAndClient, "kim 192.0.2.1"),
        ];
        for _ in 0..5 {
            limiter.take_all(&wanted, t0).unwrap();
        }
        let refused = limiter.take_all(&wanted, t0).unwrap_err();
        assert_eq!(refused.limit, Limit::LoginFailuresPerAccountAndClient);
        assert_eq!(refused.wait, Duration::from_secs(180));
        // The per-account token of the refused attempt was given back: 45 remain, so
        // 45 more addresses may try once each before that limit refuses too.
        for i in 0..45 {
            let key = format!("kim 198.51.100.{i}");
            limiter
                .take_all(
                    &[
                        (Limit::LoginFailuresPerAccount, "kim"),
                        (Limit::LoginFailuresPerAccountAndClient, &key),
                    ],
                    t0,
                )
                .unwrap();
        }
        let refused = limiter
            .take_all(
                &[
                    (Limit::LoginFailuresPerAccount, "kim"),
                    (Limit::LoginFailuresPerAccountAndClient, "kim 203.0.113.1"),
                ],
                t0,
            )
            .unwrap_err();
        assert_eq!(refused.limit, Limit::LoginFailuresPerAccount);
    }

    #[test]
    fn a_full_table_evicts_idle_buckets_first_and_stays_bounded() {
        let t0 = Instant::now();
        let mut t = table(2, 10, 8);
        // An account under attack: its bucket is empty.
        t.take("victim", t0).unwrap();
        t.take("victim", t0).unwrap();
        // Seven keys touched once, long ago: full again by now.
        for i in 0..7 {
            t.take(&format!("old{i}"), t0).unwrap();
        }
        let now = t0 + Duration::from_secs(15);
        t.take("victim", now).unwrap();
        for i in 0..100 {
            t.take(&format!("new{i}"), now).unwrap();
            assert!(t.full_at.len() <= 8);
        }
        // The emptiest bucket outlived the flood of fresh keys.
        assert!(
            t.take("victim", now).is_err(),
            "victim's bucket was evicted"
        );
    }
}
