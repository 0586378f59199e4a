package catalog

// reference is the schema of a key reference {"typeId": …, "key": …} in a
// field that implies typeID. The typeId may be omitted; given, it must be
// typeID. When collect is set, Validate reports the reference in
// Validated.References with typeId filled in.
func reference(typeID string, collect bool) *schema {
	s := object(
		opt("typeId", &schema{kind: valueString, format: formatTypeID, typeID: typeID}),
		field{name: "key", schema: keyString, required: true, refKey: true},
	)
	s.typeID = typeID
	if collect {
		s.check = collectReference
	}
	return s
}

// collectReference reports a well-formed key reference.
func collectReference(v *validator, s *schema, slots []int32, clean bool) {
	if clean {
		v.addRef(Reference{TypeID: s.typeID, Key: string(v.textOf(slots[1]))})
	}
}

// addRef adds r to the record's references unless it is there already:
// by a linear search among the first few, then with a set, so that a
// product of many categories costs linear time.
func (v *validator) addRef(r Reference) {
	if len(v.refs) < 16 {
		for _, have := range v.refs {
			if have == r {
				return
			}
		}
	} else {
		if v.refSet == nil {
			v.refSet = make(map[Reference]struct{})
		}
		if len(v.refSet) == 0 {
			for _, have := range v.refs {
				v.refSet[have] = struct{}{}
			}
		}
		if _, ok := v.refSet[r]; ok {
			return
		}
		v.refSet[r] = struct{}{}
	}
	if v.refs == nil {
		v.refs = make([]Reference, 0, 4)
	}
	v.refs = append(v.refs, r)
}
