//! (chapter 7 services: to be written on branch net-services)
