package cassandra

// Internals exposed to the black-box tests of package cassandra_test.
var (
	JavaStringHashCode = javaStringHashCode
	JavaLowerCase      = javaLowerCase
)

var (
	MigrationPlan           = migrationPlan
	Migrations              = migrations
	ToleratedMigrationError = toleratedMigrationError
	CreateKeyspaceCQL       = createKeyspaceCQL
)

// WithDefaults exposes Config.withDefaults.
func (cfg Config) WithDefaults() (Config, error) { return cfg.withDefaults() }

var (
	EncodeRecordMetadata = encodeRecordMetadata
	DecodeRecordMetadata = decodeRecordMetadata
)

// StoreKeyspace returns the keyspace a store works in.
func StoreKeyspace(st *Store) string { return st.cfg.Keyspace }
