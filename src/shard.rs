//! Sharding targets across replicas without a coordinator.
//!
//! Why rendezvous (highest random weight) hashing: every replica computes, for each target
//! name, a weight per shard and owns the names whose highest weight is its own. Nothing is
//! shared or elected, each name has exactly one owner for a given shard count, and going from
//! N to N+1 shards moves only the names the new shard now wins (about 1/(N+1) of them) while
//! the others stay where they were, so baselines and pacing mostly stay warm.
//!
//! The hash is FNV-1a 64 (`crate::hash`) followed by a 64-bit finalizer: FNV-1a is stable across builds,
//! platforms and Rust versions (the standard library's hasher is not), and the finalizer mixes
//! its weak low bits so that similar names (`…/eu-west-1`, `…/eu-west-2`) spread evenly.
//!
//! Where the shard comes from: `--shard I/N`, or in a StatefulSet the pod's name (its
//! ordinal, `s3prio-3` -> 3) in [`ENV_POD_NAME`] and the replica count in [`ENV_COUNT`].

use std::fmt;

use crate::hash::fnv1a64;
use std::str::FromStr;

/// `I/N`, as `--shard` takes it.
pub const ENV_SHARD: &str = "S3PRIO_SHARD";
/// The pod's own name (downward API `metadata.name`), whose trailing ordinal is the index.
pub const ENV_POD_NAME: &str = "S3PRIO_SHARD_FROM_POD_NAME";
/// The number of replicas, with [`ENV_POD_NAME`].
pub const ENV_COUNT: &str = "S3PRIO_SHARD_COUNT";

/// More shards than this is a typo, not a deployment.
pub const MAX_SHARDS: u32 = 1024;

/// splitmix64's finalizer: every input bit affects every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The weight of shard `index` for a name whose FNV-1a hash is `name_hash`.
fn weight(name_hash: u64, index: u32) -> u64 {
    mix(name_hash ^ mix(u64::from(index).wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// The shard that owns `name` among `count` shards (0 when `count` is 0 or 1).
pub fn owner(name: &str, count: u32) -> u32 {
    let h = fnv1a64(name.as_bytes());
    // Ties (astronomically rare) go to the lower index, the same on every replica.
    (0..count.max(1))
        .max_by_key(|&i| (weight(h, i), std::cmp::Reverse(i)))
        .unwrap_or(0)
}

/// Why a shard could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error(
        "{source_name}: `{value}` is not a shard; write INDEX/COUNT, like `0/3` (this replica's \
index, counted from 0, and the number of replicas)"
    )]
    Syntax { source_name: String, value: String },
    #[error("{source_name}: the shard count must be between 1 and {MAX_SHARDS}, not {count}")]
    Count { source_name: String, count: u64 },
    #[error(
        "{source_name}: shard index {index} is not below the shard count {count}; indexes run \
from 0 to {}", .count.saturating_sub(1)
    )]
    Index {
        source_name: String,
        index: u64,
        count: u32,
    },
    #[error(
        "{ENV_POD_NAME}: `{pod}` does not end in -ORDINAL as a StatefulSet pod's name does \
(`s3prio-3`); set it from the downward API (fieldRef metadata.name) or use --shard I/N"
    )]
    PodName { pod: String },
    #[error(
        "{ENV_POD_NAME} is set but {ENV_COUNT} is not: set {ENV_COUNT} to the StatefulSet's \
replicas"
    )]
    CountMissing,
}

/// This replica's shard: index `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardSpec {
    index: u32,
    count: u32,
}

impl ShardSpec {
    /// The whole: one shard that owns every target (no sharding).
    pub const WHOLE: ShardSpec = ShardSpec { index: 0, count: 1 };

    /// `source_name` names where the numbers came from, for the error.
    pub fn try_new(index: u64, count: u64, source_name: &str) -> Result<Self, ShardError> {
        if count == 0 || count > u64::from(MAX_SHARDS) {
            return Err(ShardError::Count {
                source_name: source_name.to_string(),
                count,
            });
        }
        let count = count as u32;
        if index >= u64::from(count) {
            return Err(ShardError::Index {
                source_name: source_name.to_string(),
                index,
                count,
            });
        }
        Ok(ShardSpec {
            index: index as u32,
            count,
        })
    }

    /// Parses `I/N` (spaces around the numbers are allowed).
    pub fn parse(value: &str, source_name: &str) -> Result<Self, ShardError> {
        let syntax = || ShardError::Syntax {
            source_name: source_name.to_string(),
            value: value.to_string(),
        };
        let (i, n) = value.split_once('/').ok_or_else(syntax)?;
        let num = |s: &str| -> Result<u64, ShardError> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            s.parse().map_err(|_| syntax())
        };
        Self::try_new(num(i)?, num(n)?, source_name)
    }

    /// A StatefulSet pod's ordinal (`s3prio-3` -> 3) as the index of `count`.
    pub fn from_pod_name(pod: &str, count: &str) -> Result<Self, ShardError> {
        let ordinal = pod
            .rsplit_once('-')
            .map(|(_, o)| o)
            .filter(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|o| o.parse::<u64>().ok())
            .ok_or_else(|| ShardError::PodName {
                pod: pod.to_string(),
            })?;
        let count_value = count.trim();
        let count: u64 = count_value.parse().map_err(|_| ShardError::Syntax {
            source_name: ENV_COUNT.to_string(),
            value: count.to_string(),
        })?;
        Self::try_new(ordinal, count, ENV_POD_NAME)
    }

    /// The shard from the command line (`--shard`, which may itself come from [`ENV_SHARD`])
    /// or else from the pod name: `lookup` reads an environment variable. `None`: not sharded.
    pub fn resolve(
        flag: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ShardError> {
        if let Some(value) = flag {
            return Self::parse(value, "--shard").map(Some);
        }
        let Some(pod) = lookup(ENV_POD_NAME).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let count = lookup(ENV_COUNT).ok_or(ShardError::CountMissing)?;
        Self::from_pod_name(&pod, &count).map(Some)
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether this shard owns the target called `name`.
    pub fn owns(&self, name: &str) -> bool {
        owner(name, self.count) == self.index
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, "--shard")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    "{:012}/{}",
                    200_000_000_000u64 + i as u64 / 2,
                    ["eu-west-1", "us-east-1"][i % 2]
                )
            })
            .collect()
    }

    #[test]
    fn every_name_has_exactly_one_owner() {
        for count in [1u32, 2, 3, 4, 5, 7] {
            for name in names(1000) {
                let owners = (0..count)
                    .filter(|&i| {
                        ShardSpec::try_new(i.into(), count.into(), "t")
                            .expect("valid")
                            .owns(&name)
                    })
                    .count();
                assert_eq!(owners, 1, "{name} among {count}");
            }
        }
    }

    #[test]
    fn shards_are_balanced() {
        let mut per = [0usize; 4];
        for name in names(1000) {
            per[owner(&name, 4) as usize] += 1;
        }
        // 250 each; a fair hash stays within about 3 standard deviations (±41).
        assert!(per.iter().all(|&n| (200..=300).contains(&n)), "{per:?}");
    }

    #[test]
    fn growing_from_4_to_5_moves_about_a_fifth_and_only_to_the_new_shard() {
        let names = names(1000);
        let moved: Vec<&String> = names
            .iter()
            .filter(|n| owner(n, 4) != owner(n, 5))
            .collect();
        // Expected 1000/5 = 200 (binomial, sd ≈ 12.6).
        assert!((160..=240).contains(&moved.len()), "{} moved", moved.len());
        assert!(
            moved.iter().all(|n| owner(n, 5) == 4),
            "a name moved between old shards"
        );
        // A modulo hash would have moved about 4/5 of them.
        let modulo_moved = names
            .iter()
            .filter(|n| fnv1a64(n.as_bytes()) % 4 != fnv1a64(n.as_bytes()) % 5)
            .count();
        assert!(modulo_moved > 600, "{modulo_moved}");
    }

    #[test]
    fn parses_index_over_count() {
        assert_eq!("3/5".parse::<ShardSpec>().expect("ok").to_string(), "3/5");
        assert_eq!(
            ShardSpec::parse(" 0 / 1 ", "x").expect("ok"),
            ShardSpec::WHOLE
        );
        let err = |s: &str| s.parse::<ShardSpec>().expect_err(s).to_string();
        assert!(err("3").contains("write INDEX/COUNT"));
        assert!(err("a/2").contains("write INDEX/COUNT"));
        assert!(err("-1/2").contains("write INDEX/COUNT"));
        assert!(err("2/2").contains("index 2 is not below the shard count 2"));
        assert!(err("0/0").contains("between 1 and 1024"));
        assert!(err("0/5000").contains("between 1 and 1024"));
        assert!(err("1/2/3").contains("write INDEX/COUNT"));
    }

    #[test]
    fn statefulset_pod_names() {
        assert_eq!(
            ShardSpec::from_pod_name("s3prio-3", "4")
                .expect("ok")
                .to_string(),
            "3/4"
        );
        assert_eq!(
            ShardSpec::from_pod_name("s3prio-shard-10", "12")
                .expect("ok")
                .index(),
            10
        );
        assert!(matches!(
            ShardSpec::from_pod_name("s3prio", "4"),
            Err(ShardError::PodName { .. })
        ));
        assert!(matches!(
            ShardSpec::from_pod_name("s3prio-4", "4"),
            Err(ShardError::Index { .. })
        ));
        let e = ShardSpec::from_pod_name("s3prio-1", "four").expect_err("count");
        assert!(e.to_string().starts_with(ENV_COUNT), "{e}");
    }

    #[test]
    fn resolve_prefers_the_flag_then_the_pod_name() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let pod = env(&[(ENV_POD_NAME, "s3prio-2"), (ENV_COUNT, "3")]);
        assert_eq!(
            ShardSpec::resolve(Some("0/2"), pod)
                .expect("ok")
                .map(|s| s.to_string()),
            Some("0/2".into())
        );
        assert_eq!(
            ShardSpec::resolve(None, pod)
                .expect("ok")
                .map(|s| s.to_string()),
            Some("2/3".into())
        );
        assert_eq!(ShardSpec::resolve(None, env(&[])).expect("ok"), None);
        assert_eq!(
            ShardSpec::resolve(None, env(&[(ENV_POD_NAME, "s3prio-0")])),
            Err(ShardError::CountMissing)
        );
    }
}
