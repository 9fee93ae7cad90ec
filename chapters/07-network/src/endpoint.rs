//! (chapter 7 core: to be written on branch net-core)
