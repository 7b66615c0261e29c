//! A count of things with the first few of them named, as reports list what they found too
//! much of to print in full (unknown keys, unknown fields, objects only in the target).

use serde::Serialize;

/// Examples kept per sample.
const EXAMPLES: usize = 5;

/// How many there are, and the first five of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    pub count: u64,
    pub examples: Vec<String>,
}

impl Sample {
    /// Counts one more; `example` names it, and is called only while examples are wanted.
    pub fn add(&mut self, example: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(example());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_all_and_names_the_first_five() {
        let mut sample = Sample::default();
        for i in 0..7 {
            sample.add(|| format!("k{i}"));
        }
        assert_eq!(sample.count, 7);
        assert_eq!(sample.examples, ["k0", "k1", "k2", "k3", "k4"]);
    }
}
