//! End-to-end tests of edusync live in `end_to_end/`, as one test binary that
//! starts real `edusync` processes. This library is empty on purpose.
