//! The one proptest configuration the library's property tests share: a fixed seed, so
//! every run checks the same cases and a failure is the same failure on every machine
//! (`PROPTEST_CASES` widens the search without changing its start), and no regression
//! files written into the source tree. Here, in the lowest layer, so that every module
//! can reach it without importing upward.

use proptest::test_runner::{Config, RngSeed};

/// The seed every property test starts from.
pub(crate) const SEED: u64 = 20_261_202;

/// `Config::default()` (which reads `PROPTEST_CASES`, 256 when unset) with the fixed
/// seed and without failure persistence.
pub(crate) fn config() -> Config {
    Config {
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        ..Config::default()
    }
}
