-- Users, sessions (used when no Redis is configured), job categories and resumes.
-- Timestamps are milliseconds since the Unix epoch; resume ids are UUIDv7 text in
-- the "C" collation, so ordering by id is ordering by creation time.
CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);

CREATE TABLE tasks (
    id   BIGINT  PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
);

INSERT INTO tasks (id, name) VALUES
    (1, '경영솔루션 운영'),
    (2, '영업/마케팅'),
    (3, 'SW 개발'),
    (4, 'UI / UX 디자인'),
    (5, '경영지원');

CREATE TABLE resumes (
    id         TEXT    COLLATE "C" PRIMARY KEY,
    owner_id   BIGINT  NOT NULL REFERENCES users (id),
    task_id    BIGINT  NOT NULL REFERENCES tasks (id),
    name       TEXT    NOT NULL,
    motivation TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX resumes_owner ON resumes (owner_id);

CREATE TABLE resume_images (
    key          TEXT    PRIMARY KEY,
    resume_id    TEXT    COLLATE "C" NOT NULL REFERENCES resumes (id) ON DELETE CASCADE,
    position     BIGINT  NOT NULL,
    content_type TEXT    NOT NULL,
    width        BIGINT  NOT NULL,
    height       BIGINT  NOT NULL,
    size_bytes   BIGINT  NOT NULL
);
CREATE INDEX resume_images_resume ON resume_images (resume_id, position);
