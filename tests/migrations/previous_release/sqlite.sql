-- The schema of painpa at git commit 21da843 (the release before Alembic migrations), as
-- its Base.metadata.create_all created it on sqlite: every product table, no sandbox table.
-- Written by tests/migrations/dump_previous_release.py; do not edit.

CREATE TABLE sec_rate_counters (
	"key" VARCHAR(96) NOT NULL, 
	count INTEGER NOT NULL, 
	expires DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE INDEX ix_sec_rate_counters_expires ON sec_rate_counters (expires);

CREATE TABLE ins_admin_user (
	id INTEGER NOT NULL, 
	username VARCHAR(128) NOT NULL, 
	password_hash TEXT NOT NULL, 
	created DATETIME NOT NULL, 
	active BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (username)
);

CREATE TABLE ins_admin_session (
	id_digest VARCHAR(64) NOT NULL, 
	data TEXT NOT NULL, 
	expires DATETIME NOT NULL, 
	PRIMARY KEY (id_digest)
);

CREATE INDEX ix_ins_admin_session_expires ON ins_admin_session (expires);

CREATE TABLE ins_decision (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	source_key VARCHAR(512) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	payer VARCHAR(256) NOT NULL, 
	payer_label VARCHAR(256) NOT NULL, 
	"plan" VARCHAR(256) NOT NULL, 
	plan_label VARCHAR(256) NOT NULL, 
	program VARCHAR(128) NOT NULL, 
	code VARCHAR(16) NOT NULL, 
	clinician VARCHAR(256) NOT NULL, 
	clinician_label VARCHAR(256) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	appeal_outcome VARCHAR(16) NOT NULL, 
	expedited BOOLEAN NOT NULL, 
	submitted DATETIME, 
	decided DATE NOT NULL, 
	decision_hours FLOAT, 
	patient_hash VARCHAR(64) NOT NULL, 
	imported DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_ins_decision_source UNIQUE (source, source_key)
);

CREATE INDEX ix_ins_decision_code ON ins_decision (code);

CREATE INDEX ix_ins_decision_outcome ON ins_decision (outcome);

CREATE INDEX ix_ins_decision_decided ON ins_decision (decided);

CREATE INDEX ix_ins_decision_clinician ON ins_decision (clinician);

CREATE INDEX ix_ins_decision_payer ON ins_decision (payer);

CREATE INDEX ix_ins_decision_plan ON ins_decision ("plan");

CREATE TABLE ins_payer_metric (
	id INTEGER NOT NULL, 
	payer VARCHAR(256) NOT NULL, 
	payer_label VARCHAR(256) NOT NULL, 
	"plan" VARCHAR(256) NOT NULL, 
	plan_label VARCHAR(256) NOT NULL, 
	year INTEGER NOT NULL, 
	pct_approved FLOAT, 
	pct_denied FLOAT, 
	pct_approved_after_appeal FLOAT, 
	median_hours_standard FLOAT, 
	median_hours_expedited FLOAT, 
	source VARCHAR(512) NOT NULL, 
	imported DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_ins_payer_metric UNIQUE (payer, "plan", year)
);

CREATE INDEX ix_ins_payer_metric_payer ON ins_payer_metric (payer);

CREATE TABLE cds_clients (
	id INTEGER NOT NULL, 
	iss VARCHAR(512) NOT NULL, 
	tenant VARCHAR(256), 
	jwks_url VARCHAR(1024), 
	jwks JSON, 
	fhir_bases JSON NOT NULL, 
	smart_client_id VARCHAR(256), 
	default_state VARCHAR(2), 
	default_pos VARCHAR(4), 
	created DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (iss)
);

CREATE TABLE cds_seen_jti (
	id INTEGER NOT NULL, 
	iss VARCHAR(512) NOT NULL, 
	jti VARCHAR(256) NOT NULL, 
	expires DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_seen_jti UNIQUE (iss, jti)
);

CREATE INDEX ix_cds_seen_jti_expires ON cds_seen_jti (expires);

CREATE TABLE cds_app_links (
	handle VARCHAR(64) NOT NULL, 
	payload JSON NOT NULL, 
	expires DATETIME NOT NULL, 
	redeemed DATETIME, 
	PRIMARY KEY (handle)
);

CREATE INDEX ix_cds_app_links_expires ON cds_app_links (expires);

CREATE TABLE cds_feedback (
	id INTEGER NOT NULL, 
	service_id VARCHAR(128) NOT NULL, 
	iss VARCHAR(512) NOT NULL, 
	card VARCHAR(128) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	outcome_ts VARCHAR(64) NOT NULL, 
	accepted_suggestions JSON NOT NULL, 
	override_code VARCHAR(256), 
	override_system VARCHAR(512), 
	user_comment TEXT, 
	received DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_feedback UNIQUE (service_id, card, outcome, outcome_ts)
);

CREATE INDEX ix_cds_feedback_card ON cds_feedback (card);

CREATE TABLE cds_audit (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	hook_instance VARCHAR(128), 
	service_id VARCHAR(128) NOT NULL, 
	hook VARCHAR(64), 
	iss VARCHAR(512), 
	patient_hash VARCHAR(64), 
	order_codes JSON NOT NULL, 
	determinations JSON NOT NULL, 
	card_uuids JSON NOT NULL, 
	latency_ms INTEGER NOT NULL, 
	status INTEGER NOT NULL, 
	incomplete JSON NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_cds_audit_hook_instance ON cds_audit (hook_instance);

CREATE INDEX ix_cds_audit_at ON cds_audit (at);

CREATE TABLE smart_pending_launch (
	state_digest VARCHAR(64) NOT NULL, 
	browser_digest VARCHAR(64) NOT NULL, 
	iss TEXT NOT NULL, 
	client_id VARCHAR(255) NOT NULL, 
	launch TEXT, 
	code_verifier VARCHAR(128) NOT NULL, 
	redirect_uri TEXT NOT NULL, 
	token_endpoint TEXT NOT NULL, 
	auth_method VARCHAR(40) NOT NULL, 
	scope TEXT NOT NULL, 
	created FLOAT NOT NULL, 
	used BOOLEAN NOT NULL, 
	PRIMARY KEY (state_digest)
);

CREATE INDEX ix_smart_pending_launch_browser_digest ON smart_pending_launch (browser_digest);

CREATE TABLE smart_session (
	id_digest VARCHAR(64) NOT NULL, 
	browser_digest VARCHAR(64) NOT NULL, 
	iss TEXT NOT NULL, 
	client_id VARCHAR(255) NOT NULL, 
	token_endpoint TEXT NOT NULL, 
	auth_method VARCHAR(40) NOT NULL, 
	access_token TEXT NOT NULL, 
	refresh_token TEXT, 
	expires_at FLOAT NOT NULL, 
	scope TEXT NOT NULL, 
	context JSON NOT NULL, 
	card JSON, 
	refreshes INTEGER NOT NULL, 
	created DATETIME NOT NULL, 
	PRIMARY KEY (id_digest)
);

CREATE INDEX ix_smart_session_browser_digest ON smart_session (browser_digest);

CREATE TABLE ins_denial_reason (
	id INTEGER NOT NULL, 
	decision_id INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	carc VARCHAR(64) NOT NULL, 
	rarc VARCHAR(64) NOT NULL, 
	requirement VARCHAR(128), 
	rule VARCHAR(128), 
	PRIMARY KEY (id), 
	FOREIGN KEY(decision_id) REFERENCES ins_decision (id) ON DELETE CASCADE
);

CREATE INDEX ix_ins_denial_reason_decision_id ON ins_denial_reason (decision_id);

CREATE INDEX ix_ins_denial_reason_requirement ON ins_denial_reason (requirement);

