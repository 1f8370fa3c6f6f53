//! The provider actor. TODO.
