package journal

// DecodeActionHeaderGeneric is DecodeActionHeader without its shortcut for marks.
var DecodeActionHeaderGeneric = decodeActionHeader
