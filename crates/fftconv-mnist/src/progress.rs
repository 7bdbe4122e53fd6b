//! A progress display for burn-train that writes plain lines, for logs and CI where there is
//! no terminal: burn-train's own fallback prints one debug line per batch and no metrics.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use burn_train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn_train::metric::{MetricDefinition, MetricId};
use burn_train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

/// How many progress lines a split gets before its closing line.
const LINES_PER_SPLIT: usize = 4;

/// Prints a few lines per epoch and split: progress with the running metrics, then the
/// split's totals and time.
pub struct LineProgress {
    names: HashMap<MetricId, String>,
    /// Latest formatted value of each metric of the current split, by name.
    values: BTreeMap<String, String>,
    split: String,
    epoch: usize,
    total_epochs: usize,
    items_total: usize,
    lines_printed: usize,
    split_start: Instant,
}

impl Default for LineProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl LineProgress {
    /// A display that has seen nothing yet.
    pub fn new() -> Self {
        Self {
            names: HashMap::new(),
            values: BTreeMap::new(),
            split: String::new(),
            epoch: 1,
            total_epochs: 0,
            items_total: 0,
            lines_printed: 0,
            split_start: Instant::now(),
        }
    }

    fn record(&mut self, state: MetricState) {
        let entry = match state {
            MetricState::Generic(entry) | MetricState::Numeric(entry, _) => entry,
        };
        let name = self
            .names
            .get(&entry.metric_id)
            .cloned()
            .unwrap_or_else(|| format!("{:?}", entry.metric_id));
        self.values
            .insert(name, running_value(&entry.serialized_entry.formatted));
    }

    fn metrics_line(&self) -> String {
        self.values
            .iter()
            .map(|(name, value)| format!(" | {name} {value}"))
            .collect()
    }
}

/// The running (epoch) value of burn-train's "epoch X - batch Y" metric text, or the whole text
/// when it has another form.
fn running_value(formatted: &str) -> String {
    formatted
        .strip_prefix("epoch ")
        .and_then(|rest| rest.split(" - batch").next())
        .unwrap_or(formatted)
        .to_string()
}

impl MetricsRendererTraining for LineProgress {
    fn update_train(&mut self, state: MetricState) {
        self.record(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }
}

impl MetricsRendererEvaluation for LineProgress {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.record(state);
    }
}

impl TrainingProgressLogger for LineProgress {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch;
        let resumed = if starting_epoch > 1 {
            format!(", resuming at epoch {starting_epoch}")
        } else {
            String::new()
        };
        println!(
            "{}: {total_epochs} epochs{resumed}",
            label.unwrap_or("training")
        );
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        self.items_total = total_items;
        self.lines_printed = 0;
        self.values.clear();
        self.split_start = Instant::now();
    }

    fn update_split(&mut self, items_processed: usize) {
        let due = (self.lines_printed + 1) * self.items_total / (LINES_PER_SPLIT + 1);
        if self.lines_printed < LINES_PER_SPLIT && items_processed >= due.max(1) {
            self.lines_printed += 1;
            println!(
                "epoch {}/{} {:<5} {:>6}/{}{}",
                self.epoch,
                self.total_epochs,
                self.split,
                items_processed,
                self.items_total,
                self.metrics_line()
            );
        }
    }

    fn end_split(&mut self) {
        println!(
            "epoch {}/{} {:<5} done in {:.1} s{}",
            self.epoch,
            self.total_epochs,
            self.split,
            self.split_start.elapsed().as_secs_f64(),
            self.metrics_line()
        );
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, event: String) {
        if event != "Iteration" {
            println!("{event}");
        }
    }
}

impl EvaluationProgressLogger for LineProgress {
    fn start_global_progress(&mut self, _total_tests: usize) {}

    fn start_test(&mut self, name: &str, total_items: usize) {
        self.start_split(name, total_items);
    }

    fn update_test_progress(&mut self, items_processed: usize) {
        self.update_split(items_processed);
    }

    fn end_test(&mut self) {
        self.end_split();
    }

    fn end_global_progress(&mut self) {}

    fn log_event_evaluation(&mut self, event: String) {
        self.log_event_training(event);
    }
}

impl MetricsRenderer for LineProgress {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id, definition.name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::running_value;

    #[test]
    fn the_running_value_is_read_from_burn_trains_text() {
        assert_eq!(running_value("epoch 0.345 - batch 0.300"), "0.345");
        assert_eq!(running_value("epoch 91.2 % - batch N/A %"), "91.2 %");
        assert_eq!(running_value("12 items/s"), "12 items/s");
    }
}
