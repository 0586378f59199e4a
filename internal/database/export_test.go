package database

// WithProvider is withProvider, for the migration tests of package
// database_test (which uses testenv, itself a user of this package).
var WithProvider = withProvider
