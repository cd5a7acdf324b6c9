//! PROXY protocol v2 (LB → worker): the client's address, sent before the first byte of the session.
