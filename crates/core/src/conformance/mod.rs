//! The conformance suite: every store must pass it, and a decorator must pass it around every
//! store it wraps.
//!
//! - One `pub async fn` per behaviour documented on [`crate::ModelRegistry`] and
//!   [`crate::PredictionStore`], taking the store under test. Each uses model names of its own
//!   (with a random suffix), so the checks can share one store and run in any order.
//! - [`concurrency`]: checks that need tasks running in parallel on one `Arc<dyn Store>`.
//! - [`properties`]: proptest properties: a model-based comparison with [`crate::MemoryStore`],
//!   bad input leaving the store unchanged, verbatim round-trips of awkward strings, and
//!   bit-exact round-trips of every finite double.
//!
//! A backend runs the whole suite with [`conformance_tests!`](crate::conformance_tests), giving an
//! expression that builds a fresh store (it is evaluated once per test, inside a Tokio runtime):
//!
//! ```no_run
//! mod memory {
//!     mlstore_core::conformance_tests!(mlstore_core::MemoryStore::new());
//! }
//! ```
//!
//! The calling crate needs `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency.

pub mod concurrency;
pub mod fidelity;
mod fixtures;
pub mod history;
pub mod monitoring;
pub mod predictions;
pub mod properties;
pub mod registry;
pub mod retention;

pub use fidelity::{json_at_the_depth_limit_round_trips, timestamps_at_the_range_ends_round_trip};
pub use fixtures::{at, metadata, prediction, unique_name, version};
pub use history::*;
pub use monitoring::*;
pub use predictions::*;
pub use registry::*;
pub use retention::*;

/// Runs every single-store check of the suite, one after the other, on `store`.
pub async fn run_all(store: &dyn crate::Store) {
    crate::__for_each_check!(__run_checks(store));
}

/// The list of single-store checks, handed to a callback macro.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_check {
    ($callback:ident ($($pre:tt)*)) => {
        $crate::$callback! { ($($pre)*)
            register_then_get_round_trips,
            register_duplicate_is_already_exists,
            register_lists_name_and_version,
            get_missing_is_none,
            latest_uses_semver_precedence,
            latest_of_unknown_name_is_none,
            versions_ascend_by_precedence,
            versions_of_unknown_name_is_empty,
            list_models_drops_name_without_versions,
            update_replaces_metadata_keeps_created_at,
            update_missing_is_not_found,
            delete_removes_predictions_baseline_and_aliases,
            delete_missing_is_not_found,
            delete_leaves_other_versions_untouched,
            set_alias_creates_and_moves,
            set_alias_to_missing_version_is_not_found,
            resolve_missing_alias_is_none,
            remove_alias_then_resolve_is_none,
            remove_missing_alias_is_not_found,
            awkward_strings_round_trip_verbatim,
            every_change_records_one_event,
            a_failed_change_records_no_event,
            events_filter_and_page,
            alias_at_a_time,
            rollback_walks_back_one_step,
            aliases_list_their_targets,
            listings_page_and_filter,
            json_at_the_depth_limit_round_trips,
            timestamps_at_the_range_ends_round_trip,
            store_prediction_round_trips,
            store_prediction_for_missing_model_is_not_found,
            store_prediction_duplicate_id_is_already_exists,
            prediction_stored_with_actual_counts_in_accuracy,
            store_batch_round_trips,
            store_batch_empty_is_a_no_op,
            store_batch_too_large_is_invalid,
            store_batch_duplicate_id_is_invalid,
            store_batch_missing_model_writes_nothing,
            store_batch_existing_id_writes_nothing,
            record_actual_counts_in_accuracy,
            labels_compare_numbers_by_value,
            record_actual_relabel_replaces,
            record_actual_missing_is_not_found,
            record_actual_oversized_is_invalid,
            record_actuals_batch_is_all_or_nothing,
            store_with_default_options_is_all_or_nothing,
            store_with_invalid_batch_is_invalid_whatever_the_options,
            store_with_skip_conflicts_stores_the_rest,
            store_with_skip_missing_stores_the_rest,
            record_actuals_with_default_is_all_or_nothing,
            record_actuals_with_skip_missing_records_the_rest,
            prediction_by_id_reads_it_or_none,
            count_of_unknown_model_or_version_is_not_found,
            count_keeps_to_its_filter,
            scan_of_missing_version_is_not_found,
            scan_visits_every_prediction_once,
            recent_window_out_of_range_is_invalid,
            recent_of_missing_model_is_not_found,
            recent_is_newest_first_and_limited,
            recent_window_keeps_to_its_time_range,
            accuracy_window_out_of_range_is_invalid,
            accuracy_of_missing_model_is_not_found,
            accuracy_counts_newest_labelled_only,
            accuracy_window_keeps_to_its_time_range,
            baseline_upserts,
            baseline_for_missing_model_is_not_found,
            baseline_absent_is_none,
            window_reads_of_missing_version_are_not_found,
            window_rows_carry_what_monitoring_needs,
            bucket_sums_follow_predictions_and_labels,
            metrics_over_a_window,
            series_fill_every_bucket,
            drift_against_the_baseline,
            compare_two_versions,
            prune_removes_only_what_is_before_the_cutoff,
            prune_of_a_model_and_of_everything,
            prune_of_unknown_scope_is_not_found,
            retention_policies_are_kept_and_applied,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __run_checks {
    (($store:expr) $($check:ident),* $(,)?) => {
        $( $crate::conformance::$check($store).await; )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __check_tests {
    (($make:expr) $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = $make;
                $crate::conformance::$check(&store).await;
            }
        )*
    };
}

/// Generates one test per conformance check, the concurrency checks and the properties, each on
/// a fresh store built by `$make` (an expression, evaluated inside a Tokio runtime; it may use
/// `.await`).
///
/// ```no_run
/// mod sqlite_memory {
///     mlstore_core::conformance_tests!(
///         mlstore_sqlite::SqliteStore::open_in_memory().await.unwrap()
///     );
/// }
/// ```
///
/// The properties run [`properties::DEFAULT_CASES`] cases each (256), or `PROPTEST_CASES` when
/// that environment variable is set.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__for_each_check!(__check_tests(async { $make }.await));

        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_registers_have_one_winner() {
            let store: ::std::sync::Arc<dyn $crate::Store> = ::std::sync::Arc::new($make);
            $crate::conformance::concurrency::concurrent_registers_have_one_winner(store).await;
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_rollbacks_each_move_one_step() {
            let store: ::std::sync::Arc<dyn $crate::Store> = ::std::sync::Arc::new($make);
            $crate::conformance::concurrency::concurrent_rollbacks_each_move_one_step(store).await;
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_prediction_writers_lose_nothing() {
            let store: ::std::sync::Arc<dyn $crate::Store> = ::std::sync::Arc::new($make);
            $crate::conformance::concurrency::concurrent_prediction_writers_lose_nothing(store)
                .await;
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_prune_loses_nothing_outside_the_cutoff() {
            let store: ::std::sync::Arc<dyn $crate::Store> = ::std::sync::Arc::new($make);
            $crate::conformance::concurrency::concurrent_prune_loses_nothing_outside_the_cutoff(
                store,
            )
            .await;
        }

        #[test]
        fn property_model_based_matches_memory_store() {
            $crate::conformance::properties::model_based(|| async { $make });
        }

        #[test]
        fn property_bad_input_is_rejected_and_changes_nothing() {
            $crate::conformance::properties::bad_input(|| async { $make });
        }

        #[test]
        fn property_awkward_strings_round_trip() {
            $crate::conformance::properties::strings_round_trip(|| async { $make });
        }

        #[test]
        fn property_floats_round_trip_bit_exact() {
            $crate::conformance::properties::floats_round_trip(|| async { $make });
        }
    };
}
