//! Items handed from a producing thread to async code in batches: one wake-up of the receiver
//! per batch, not per item. The file reader and the watch-cache list parser use it.

use tokio::sync::mpsc;

/// The receiver went away.
#[derive(Debug)]
pub struct Closed;

/// The sending side, for a blocking thread: [`Batcher::push`] items, then [`Batcher::finish`].
pub struct Batcher<T> {
    tx: mpsc::Sender<Vec<T>>,
    batch: Vec<T>,
    size: usize,
}

/// A channel of batches of `size` items, at most `waiting` items (rounded up to a batch)
/// queued between the two sides.
pub fn channel<T>(size: usize, waiting: usize) -> (Batcher<T>, Batches<T>) {
    let size = size.max(1);
    let (tx, rx) = mpsc::channel(waiting.div_ceil(size).max(1));
    let batcher = Batcher {
        tx,
        batch: Vec::with_capacity(size),
        size,
    };
    let batches = Batches {
        rx,
        batch: Vec::new().into_iter(),
    };
    (batcher, batches)
}

impl<T> Batcher<T> {
    /// Adds an item; sends the batch when it is full (blocking while the receiver is behind).
    pub fn push(&mut self, item: T) -> Result<(), Closed> {
        self.batch.push(item);
        if self.batch.len() < self.size {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(self.size));
        self.tx.blocking_send(full).map_err(|_| Closed)
    }

    /// Sends what is left.
    pub fn finish(self) -> Result<(), Closed> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.tx.blocking_send(self.batch).map_err(|_| Closed)
    }
}

/// The receiving side: the items one by one, in the order they were pushed.
pub struct Batches<T> {
    rx: mpsc::Receiver<Vec<T>>,
    batch: std::vec::IntoIter<T>,
}

impl<T> Batches<T> {
    /// The next item; None once the sender is finished or gone.
    pub async fn next(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.batch.next() {
                return Some(item);
            }
            self.batch = self.rx.recv().await?.into_iter();
        }
    }

    /// Stops receiving: the sender's next send fails.
    pub fn close(&mut self) {
        self.rx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_arrive_in_order_whatever_the_batch_size() {
        let (mut batcher, mut batches) = channel(3, 4);
        let sender = std::thread::spawn(move || {
            for i in 0..10 {
                batcher.push(i).unwrap();
            }
            batcher.finish()
        });
        let mut got = Vec::new();
        while let Some(i) = batches.next().await {
            got.push(i);
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert!(sender.join().unwrap().is_ok());
    }

    #[test]
    fn a_closed_receiver_stops_the_sender() {
        let (mut batcher, mut batches) = channel::<u32>(1, 1);
        batches.close();
        assert!(batcher.push(1).is_err());
    }
}
