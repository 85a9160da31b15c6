//! Argument checks shared by every backend, so that each one rejects the same bad input with the
//! same error before it touches its database.

use std::collections::HashSet;

use crate::limits::MAX_BATCH_LEN;
use crate::{Error, Label, Prediction, Result};

/// Checks a batch for [`crate::PredictionStore::store_predictions`]: at most [`MAX_BATCH_LEN`]
/// predictions, no id twice.
pub fn prediction_batch(batch: &[Prediction]) -> Result<()> {
    batch_of(batch.len(), batch.iter().map(Prediction::id))
}

/// Checks a batch for [`crate::PredictionStore::record_actuals`]: at most [`MAX_BATCH_LEN`]
/// labels, no id twice.
pub fn label_batch(batch: &[Label]) -> Result<()> {
    batch_of(batch.len(), batch.iter().map(Label::id))
}

fn batch_of(len: usize, ids: impl Iterator<Item = uuid::Uuid>) -> Result<()> {
    if len > MAX_BATCH_LEN {
        return Err(Error::invalid(
            "batch",
            format!("has {len} entries, the limit is {MAX_BATCH_LEN}"),
        ));
    }
    let mut seen = HashSet::with_capacity(len);
    for id in ids {
        if !seen.insert(id) {
            return Err(Error::invalid(
                "id",
                format!("{id} appears twice in the batch"),
            ));
        }
    }
    Ok(())
}
