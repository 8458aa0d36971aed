//! One thread per engine advancing its epoch, which is what turns a per-call deadline into
//! an interrupt of a guest that never yields.

use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances; deadlines are measured in these ticks.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Starts the ticker. It holds only a weak reference and stops when the engine is dropped.
pub(crate) fn start(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("kiln-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
    Ok(())
}

/// The number of ticks that covers `deadline`, at least one.
pub(crate) fn ticks_for(deadline: Duration) -> u64 {
    let tick = TICK.as_micros().max(1);
    (deadline.as_micros().div_ceil(tick) as u64).max(1)
}
