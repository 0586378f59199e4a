// Package catalog holds the record model of the import contract: the nine
// resource types, their validation and references, and the PostgreSQL catalog
// the importer writes into by default. It knows nothing of the pipeline.
package catalog
