// Package summary holds the pieces of a run's JSON summary (SPEC §6) that
// import and mirror share: counts of files and bytes, the duration, and
// the images a run took.
package summary

import (
	"encoding/json"
	"fmt"
	"time"

	"maas-import-boot-images/simplestreams"
)

// Seconds is a duration written as fractional seconds in JSON.
type Seconds time.Duration

// Seconds returns the duration in seconds.
func (s Seconds) Seconds() float64 { return time.Duration(s).Seconds() }

// MarshalJSON writes the duration in seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(s).Seconds())), nil
}

// UnmarshalJSON reads fractional seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*s = Seconds(f * float64(time.Second))
	return nil
}

// Counts counts distinct files (by sha256) or their bytes.
type Counts struct {
	Total      int64 `json:"total"`
	Downloaded int64 `json:"downloaded"`
	Reused     int64 `json:"reused"`
}

// Image describes one image of a run.
type Image struct {
	simplestreams.Image        // os, arch, subarch, release, label
	ContentID           string `json:"content_id"`
	ProductName         string `json:"product_name"`
	VersionName         string `json:"version_name"`
	// Bootloader is true for a bootloader product (then Release is its
	// bootloader-type, as in maas.meta).
	Bootloader bool `json:"-"`
}

// Images describes the images of a run, in their order.
func Images(images []simplestreams.BootImage) []Image {
	out := make([]Image, 0, len(images))
	for _, im := range images {
		out = append(out, Image{Image: im.Image,
			ContentID: im.ContentID, ProductName: im.ProductName, VersionName: im.VersionName, Bootloader: im.Bootloader != ""})
	}
	return out
}
