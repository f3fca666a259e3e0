// spoke.js: placeholder; the client library replaces this file.
