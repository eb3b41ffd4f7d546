-- The statements that create the tables of bot/storage/schema.py in a new PostgreSQL
-- database. Written by `python -m bot.storage.schema`: do not edit by hand.

CREATE TABLE users (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	key TEXT NOT NULL,
	lang TEXT NOT NULL,
	tz TEXT NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	blocked_at TIMESTAMP WITH TIME ZONE,
	current_project_id BIGINT,
	PRIMARY KEY (id),
	UNIQUE (key)
);

CREATE TABLE advisors (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	name TEXT NOT NULL,
	code TEXT NOT NULL,
	lang TEXT NOT NULL,
	admin BOOLEAN NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (name),
	UNIQUE (code)
);

CREATE TABLE projects (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	owner_id BIGINT NOT NULL,
	title TEXT,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	partner_left_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX projects_by_owner ON projects (owner_id, id);

CREATE TABLE processed_updates (
	update_id BIGINT NOT NULL,
	user_id BIGINT,
	processed_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (update_id),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX processed_updates_by_time ON processed_updates (processed_at);

CREATE INDEX processed_updates_by_user ON processed_updates (user_id);

CREATE TABLE advisor_logins (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	advisor_id BIGINT NOT NULL,
	token_hash TEXT NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
	used_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (token_hash),
	FOREIGN KEY(advisor_id) REFERENCES advisors (id) ON DELETE CASCADE
);

CREATE INDEX advisor_logins_by_advisor ON advisor_logins (advisor_id);

CREATE TABLE advisor_sessions (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	advisor_id BIGINT NOT NULL,
	token_hash TEXT NOT NULL,
	csrf TEXT NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (token_hash),
	FOREIGN KEY(advisor_id) REFERENCES advisors (id) ON DELETE CASCADE
);

CREATE INDEX advisor_sessions_by_advisor ON advisor_sessions (advisor_id);

CREATE INDEX advisor_sessions_by_expiry ON advisor_sessions (expires_at);

CREATE TABLE project_members (
	project_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	role TEXT NOT NULL,
	joined_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (project_id, user_id),
	CHECK (role IN ('owner', 'partner')),
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE,
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX project_members_by_user ON project_members (user_id);

CREATE UNIQUE INDEX project_members_one_per_role ON project_members (project_id, role);

CREATE TABLE invitations (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	project_id BIGINT NOT NULL,
	token_hash TEXT NOT NULL,
	created_by BIGINT NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
	used_at TIMESTAMP WITH TIME ZONE,
	used_by BIGINT,
	declined_at TIMESTAMP WITH TIME ZONE,
	revoked_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (token_hash),
	FOREIGN KEY(created_by) REFERENCES users (id) ON DELETE CASCADE,
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE,
	FOREIGN KEY(used_by) REFERENCES users (id) ON DELETE SET NULL
);

CREATE INDEX invitations_by_creator ON invitations (created_by);

CREATE INDEX invitations_by_project ON invitations (project_id, id);

CREATE INDEX invitations_by_user ON invitations (used_by);

CREATE TABLE gap_comments (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	project_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	dimension TEXT NOT NULL,
	body TEXT NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE,
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX gap_comments_by_user ON gap_comments (user_id);

CREATE UNIQUE INDEX gap_comments_key ON gap_comments (project_id, user_id, dimension);

CREATE TABLE conversations (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	user_id BIGINT NOT NULL,
	dialogue_id TEXT NOT NULL,
	state TEXT NOT NULL,
	version INTEGER NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	finished_at TIMESTAMP WITH TIME ZONE,
	active BOOLEAN NOT NULL,
	project_id BIGINT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE,
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX conversations_by_project ON conversations (project_id, id);

CREATE INDEX conversations_by_user ON conversations (user_id, id);

CREATE UNIQUE INDEX conversations_active ON conversations (user_id, project_id) WHERE active;

CREATE TABLE advisor_shares (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	advisor_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	project_id BIGINT NOT NULL,
	consented_at TIMESTAMP WITH TIME ZONE NOT NULL,
	withdrawn_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	FOREIGN KEY(advisor_id) REFERENCES advisors (id) ON DELETE CASCADE,
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE,
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX advisor_shares_by_advisor ON advisor_shares (advisor_id, withdrawn_at);

CREATE INDEX advisor_shares_by_project ON advisor_shares (project_id);

CREATE INDEX advisor_shares_by_user ON advisor_shares (user_id);

CREATE UNIQUE INDEX advisor_shares_current ON advisor_shares (advisor_id, project_id) WHERE withdrawn_at IS NULL;

CREATE TABLE advisor_notes (
	advisor_id BIGINT NOT NULL,
	project_id BIGINT NOT NULL,
	text TEXT NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (advisor_id, project_id),
	FOREIGN KEY(advisor_id) REFERENCES advisors (id) ON DELETE CASCADE,
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE
);

CREATE INDEX advisor_notes_by_project ON advisor_notes (project_id);

CREATE TABLE answers (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	conversation_id BIGINT NOT NULL,
	question_id TEXT NOT NULL,
	value TEXT NOT NULL,
	answered_at TIMESTAMP WITH TIME ZONE NOT NULL,
	superseded_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
);

CREATE INDEX answers_by_conversation ON answers (conversation_id, id);

CREATE UNIQUE INDEX answers_current ON answers (conversation_id, question_id) WHERE superseded_at IS NULL;

CREATE TABLE reminders (
	id BIGINT GENERATED ALWAYS AS IDENTITY,
	user_id BIGINT NOT NULL,
	conversation_id BIGINT,
	kind TEXT NOT NULL,
	ref TEXT NOT NULL,
	payload TEXT NOT NULL,
	due_at TIMESTAMP WITH TIME ZONE NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER DEFAULT '0' NOT NULL,
	claimed_by TEXT,
	claimed_until TIMESTAMP WITH TIME ZONE,
	sent_at TIMESTAMP WITH TIME ZONE,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	project_id BIGINT,
	PRIMARY KEY (id),
	CHECK ((claimed_by IS NULL) = (claimed_until IS NULL)),
	CHECK (attempts >= 0),
	CHECK (status IN ('pending', 'sent', 'done', 'cancelled', 'failed')),
	FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
	FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE,
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX reminders_by_conversation ON reminders (conversation_id);

CREATE INDEX reminders_by_project ON reminders (project_id);

CREATE INDEX reminders_by_user ON reminders (user_id, status, due_at, id);

CREATE INDEX reminders_due ON reminders (status, due_at, id);

CREATE UNIQUE INDEX reminders_pending_key ON reminders (user_id, coalesce(project_id, 0), kind, ref) WHERE status = 'pending';

ALTER TABLE users ADD FOREIGN KEY(current_project_id) REFERENCES projects (id) ON DELETE SET NULL;

