//! The step every new entry passes before delivery, whatever path it came by (REST, forwarded
//! request, health check): its id, the removal of secrets from everything it would store, and
//! its shard. Doing it in one place is what makes "no ingest path stores a key" and "every
//! entry lands in its colo's shard" true for paths added later too.

use crate::config::Config;
use crate::ingest::shard::{shard_id, spread_of};
use crate::model::entry::LogEntry;
use crate::model::id::{content_id, new_id, scoped_id};
use crate::model::secret::Secrets;

/// Where an entry's id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'a> {
    /// The client named the entry (its own `id`, or an `Idempotency-Key`): the id is derived
    /// from the app and that name, so a retried entry is stored once.
    Client(&'a str),
    /// A fresh time-ordered id from these random bytes.
    Random([u8; 16]),
    /// The entry is known by what it says (a digest of the body it came in, and its place
    /// there): the same body sent again stores nothing twice (`model::id::content_id`).
    Content(&'a str),
}

/// The prepare step for the entries of one request (or one health-check run).
#[derive(Debug, Clone)]
pub struct Prepare<'a> {
    app_id: &'a str,
    now_ms: i64,
    colo: Option<&'a str>,
    bucket_ms: u64,
    fanout: u32,
    /// Values never stored (the admin key, the caller's own key), in every form searched for.
    secrets: Secrets,
    /// With one LogBatcher per colo and bucket every entry gets the same shard: made once.
    one_shard: Option<String>,
}

impl<'a> Prepare<'a> {
    pub fn new(
        config: &Config,
        app_id: &'a str,
        now_ms: i64,
        colo: Option<&'a str>,
        secrets: &'a [&'a str],
    ) -> Self {
        let (bucket_ms, fanout) = (config.sharding_bucket_ms, config.shard_fanout);
        Prepare {
            app_id,
            now_ms,
            colo,
            bucket_ms,
            fanout,
            secrets: Secrets::with_scrub(secrets, config.scrub.clone()),
            one_shard: (fanout <= 1).then(|| shard_id(colo, now_ms, bucket_ms, 1, 0)),
        }
    }

    /// The id of an entry timed `at_ms` (its own time, which a fresh id carries: see
    /// `model::id::locates_row`).
    pub fn id(&self, identity: Identity<'_>, at_ms: i64) -> String {
        match identity {
            Identity::Client(name) => scoped_id(self.app_id, name),
            Identity::Random(random) => new_id(at_ms, random),
            Identity::Content(name) => content_id(self.app_id, name, at_ms),
        }
    }

    /// Removes the secrets from the entry and stamps its shard.
    pub fn apply(&self, entry: &mut LogEntry) {
        entry.redact(&self.secrets);
        entry.shard = match &self.one_shard {
            Some(shard) => shard.clone(),
            None => shard_id(
                self.colo,
                self.now_ms,
                self.bucket_ms,
                self.fanout,
                spread_of(&entry.id),
            ),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::tests::sample;

    fn config(fanout: u32) -> Config {
        let mut c = Config::from_lookup(|_| None).unwrap();
        c.shard_fanout = fanout;
        c.sharding_bucket_ms = 60_000;
        c
    }

    #[test]
    fn client_named_entries_get_the_same_id_every_time_and_others_a_fresh_one() {
        let c = config(1);
        let p = Prepare::new(&c, "shop", 1_750_000_000_000, None, &[]);
        assert_eq!(
            p.id(Identity::Client("order-1"), 0),
            p.id(Identity::Client("order-1"), 0)
        );
        assert_eq!(
            p.id(Identity::Client("order-1"), 0),
            scoped_id("shop", "order-1")
        );
        assert_ne!(
            p.id(Identity::Random([1; 16]), 0),
            p.id(Identity::Random([2; 16]), 0)
        );
        let fresh = p.id(Identity::Random([1; 16]), 1_600_000_000_000);
        assert!(
            crate::model::id::locates_row(&fresh, 1_600_000_000_000),
            "a fresh id carries the entry's own time, not the time it came in"
        );
    }

    #[test]
    fn secrets_are_removed_and_the_shard_stamped() {
        let c = config(1);
        let secret = "lk_0123456789abcdef";
        let secrets = [secret];
        let p = Prepare::new(&c, "shop", 1_750_000_000_000, Some("AMS"), &secrets);
        let mut e = sample();
        e.message = format!("key {secret}");
        p.apply(&mut e);
        assert!(!e.to_row_json().contains(secret));
        assert_eq!(e.shard, "AMS-29166666");
    }

    #[test]
    fn with_fanout_the_shard_follows_the_id() {
        let c = config(4);
        let p = Prepare::new(&c, "shop", 1_750_000_000_000, Some("AMS"), &[]);
        let mut e = sample();
        p.apply(&mut e);
        assert_eq!(
            e.shard,
            shard_id(Some("AMS"), 1_750_000_000_000, 60_000, 4, spread_of(&e.id))
        );
    }
}
