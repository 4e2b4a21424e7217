-- A role and a database for the samverk daemon. Run once, as a superuser:
--   psql -v ON_ERROR_STOP=1 -f setup.sql
-- then give the role a password (\password samverk) or a client certificate.
-- The daemon owns its database and creates and migrates its tables itself at start; it needs
-- no other privilege.
CREATE ROLE samverk LOGIN;
CREATE DATABASE samverk OWNER samverk;
-- Reports are acknowledged only when committed: keep synchronous_commit on (the default).
ALTER DATABASE samverk SET synchronous_commit = on;
