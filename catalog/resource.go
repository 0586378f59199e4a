package catalog

import "strings"

// ResourceType names the kind of every record in a delivery (the Import-Data header)
// and the <ResourceType> token of catalog event subjects.
type ResourceType string

// The nine resource types of the record contract (docs/records.md).
const (
	ProductType    ResourceType = "ProductType"
	Category       ResourceType = "Category"
	TaxCategory    ResourceType = "TaxCategory"
	Product        ResourceType = "Product"
	ProductVariant ResourceType = "ProductVariant"
	Price          ResourceType = "Price"
	InventoryEntry ResourceType = "InventoryEntry"
	CustomerGroup  ResourceType = "CustomerGroup"
	Channel        ResourceType = "Channel"
)

// ResourceTypes lists every resource type in dependency order: a type only
// references types listed before it.
var ResourceTypes = []ResourceType{ProductType, Category, TaxCategory, CustomerGroup, Channel, Product, ProductVariant, Price, InventoryEntry}

var typeIDs = map[ResourceType]string{
	ProductType:    "product-type",
	Category:       "category",
	TaxCategory:    "tax-category",
	Product:        "product",
	ProductVariant: "product-variant",
	Price:          "price",
	InventoryEntry: "inventory-entry",
	CustomerGroup:  "customer-group",
	Channel:        "channel",
}

// ParseResourceType parses an Import-Data header value, case-insensitively.
func ParseResourceType(s string) (ResourceType, bool) {
	for _, t := range ResourceTypes {
		if strings.EqualFold(s, string(t)) {
			return t, true
		}
	}
	return "", false
}

// TypeID is the typeId used in references and resource events ("product-type", "category", …).
func (t ResourceType) TypeID() string { return typeIDs[t] }

// ResourceTypeOf maps a reference typeId back to its resource type.
func ResourceTypeOf(typeID string) (ResourceType, bool) {
	for t, id := range typeIDs {
		if id == typeID {
			return t, true
		}
	}
	return "", false
}

// IdentifiedBySKU reports whether records of this type are identified by their
// sku rather than their key.
func (t ResourceType) IdentifiedBySKU() bool { return t == ProductVariant || t == InventoryEntry }
