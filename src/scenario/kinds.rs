//! The ready-made agents of the `agents/` crate, compiled into the runtime so that
//! scenario files and `quotaswarm run` can name them by kind. The files are the same ones
//! the `quotaswarm-agents` crate exports; read them there.

#[path = "../../agents/src/classifier.rs"]
pub mod classifier;
#[path = "../../agents/src/critics.rs"]
pub mod critics;
#[path = "../../agents/src/persona.rs"]
pub mod persona;
#[path = "../../agents/src/researcher.rs"]
pub mod researcher;
#[path = "../../agents/src/summarizer.rs"]
pub mod summarizer;
