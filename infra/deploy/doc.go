// Package deploy holds the checks of the SAM deployment (template.yaml at the module root): cfn-lint,
// the SAM translator's output (response streaming, one throttled stage, the roles' permissions), the
// consistency of the template with the code (function folders, handlers, build targets, environment
// variables), the Makefile's Lambda builds as sam build runs them, samconfig.toml, sam local's
// variables, and docs/deploy.md's table of every environment variable the code reads.
//
// The functions and the environment variables each reads are listed in Functions; docs/deploy.md
// documents them and package config reads them (the names are its constants).
package deploy

import "github.com/switchyard-ai/switchyard/shared/config"

// Function is one Lambda function of the template.
type Function struct {
	LogicalID string
	// CodeUri is the main package's folder, relative to the module root.
	CodeUri string
	// Reads are the environment variables the function reads; the template must set no others.
	Reads []string
	// Requires are the variables the template must set (a subset of Reads).
	Requires []string
}

// database is what every function that opens the database reads.
var database = []string{
	config.EnvDatabaseURL, config.EnvDatabaseSecretARN, config.EnvDatabaseIAM, config.EnvDatabaseHost,
	config.EnvDatabasePort, config.EnvDatabaseUser, config.EnvDatabaseName, config.EnvDatabaseSSLMode,
	config.EnvDatabaseSSLRootCert, config.EnvDatabaseRDSProxy, config.EnvLogLevel,
}

// databaseRequired are the database variables the template always sets (DATABASE_SECRET_ARN only when
// given, DATABASE_URL never).
var databaseRequired = []string{
	config.EnvDatabaseIAM, config.EnvDatabaseHost, config.EnvDatabasePort, config.EnvDatabaseUser,
	config.EnvDatabaseName, config.EnvDatabaseSSLMode, config.EnvDatabaseRDSProxy, config.EnvLogLevel,
}

// Functions are the template's functions and what each reads.
var Functions = []Function{
	{
		LogicalID: "GatewayFunction",
		CodeUri:   "functions/gateway",
		Reads:     append([]string{config.EnvKMSKeyID, config.EnvAllowLoopback, config.EnvWorkerFunction}, database...),
		Requires:  append([]string{config.EnvKMSKeyID, config.EnvAllowLoopback, config.EnvWorkerFunction}, databaseRequired...),
	},
	{
		LogicalID: "AdminFunction",
		CodeUri:   "functions/admin",
		Reads:     append([]string{config.EnvKMSKeyID, config.EnvAllowLoopback, config.EnvWorkerFunction}, database...),
		Requires:  append([]string{config.EnvKMSKeyID, config.EnvAllowLoopback, config.EnvWorkerFunction}, databaseRequired...),
	},
	{
		LogicalID: "WorkerFunction",
		CodeUri:   "worker",
		Reads:     append([]string{config.EnvKMSKeyID, config.EnvAllowLoopback}, database...),
		Requires:  append([]string{config.EnvKMSKeyID, config.EnvAllowLoopback}, databaseRequired...),
	},
	{
		LogicalID: "MigrateFunction",
		CodeUri:   "functions/migrate",
		Reads:     append([]string{config.EnvAdminTokenSecretARN, config.EnvAdminToken}, database...),
		Requires:  append([]string{config.EnvAdminTokenSecretARN}, databaseRequired...),
	},
}
